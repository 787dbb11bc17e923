"""API-key authentication and scope checks for the public API."""

import hashlib
import logging
import os
import secrets
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .models import ApiKey
from .redis_client import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "tri_"


def api_key_hash(raw_key):
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_generate():
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiClient:
    """The caller behind a valid key; stands in for request.user in API views."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.project = api_key.project

    def __str__(self):
        return f"api-key:{self.api_key.prefix}"


def raw_key_from_headers(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.META.get("HTTP_X_API_KEY", "").strip()


class RevocationSignal:
    """Tells every process that some key was revoked, so cached keys die at once.

    The signal is a generation that changes on each revocation. With REDIS_URL it is a
    counter in Redis (one GET per authenticated request, no database query); in the embedded
    shape it is a file under TRIAGE_DATA_DIR whose identity changes (one stat), so a
    command run in another process reaches the running server too. `current()` returns
    None when the generation cannot be read (Redis down): callers then skip the cache.
    """

    REDIS_KEY = "triage:api-key-revocations"
    RETRY_SECONDS = 1.0  # after a Redis failure, do not wait on it again for this long

    def __init__(self):
        self._redis_down_until = 0.0

    def _path(self):
        return Path(settings.DATA_DIR) / "api-key-revocations"

    def current(self):
        if settings.REDIS_URL:
            if time.monotonic() < self._redis_down_until:
                return None
            try:
                generation = redis_client(settings.REDIS_URL).get(self.REDIS_KEY) or b"0"
                self._redis_down_until = 0.0
                return generation
            except Exception:
                if not self._redis_down_until:  # warn once per outage, not per request
                    logger.warning("api keys: Redis unreachable; looking keys up in the database")
                self._redis_down_until = time.monotonic() + self.RETRY_SECONDS
                return None
        try:
            stat = os.stat(self._path())
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_ino, stat.st_mtime_ns)

    def announce(self):
        """Move the generation on. Call after the revocation is committed."""
        key_cache.clear()  # this process at once, whatever happens below
        if settings.REDIS_URL:
            try:
                redis_client(settings.REDIS_URL).incr(self.REDIS_KEY)
            except Exception:
                # Readers that cannot reach Redis skip their caches; one that saw nothing
                # of the outage keeps a cached key for TRIAGE_API_KEY_CACHE_SECONDS at most.
                logger.warning(
                    "api keys: Redis unreachable; revocation reaches other processes "
                    "within TRIAGE_API_KEY_CACHE_SECONDS"
                )
            return
        # A new file replaces the old one: a new inode, so the change shows even within
        # one mtime tick.
        path = self._path()
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(uuid.uuid4().hex)
        os.replace(tmp, path)


class _KeyCache:
    """Valid keys by hash: saves a query on every ingest request.

    An entry holds for TRIAGE_API_KEY_CACHE_SECONDS and only while the revocation
    generation it was read under is current; unknown keys are never cached.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {}

    def get(self, key_hash, generation):
        entry = self._keys.get(key_hash)
        if entry and entry[0] > time.monotonic() and entry[1] == generation:
            return entry[2]
        return None

    def put(self, key_hash, key, generation):
        ttl = settings.TRIAGE_API_KEY_CACHE_SECONDS
        if ttl <= 0 or generation is None:
            return
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key_hash] = (time.monotonic() + ttl, generation, key)

    def clear(self):
        with self._lock:
            self._keys.clear()


key_cache = _KeyCache()
revocations = RevocationSignal()


def api_key_lookup(raw):
    """The live ApiKey (with its project) for a raw key, or None."""
    digest = api_key_hash(raw)
    # Read before the database: a revocation committed after this read moves the
    # generation on, so whatever we cache below is dropped on the next request.
    generation = revocations.current()
    key = key_cache.get(digest, generation) if generation is not None else None
    if key is None:
        key = (
            ApiKey.objects.select_related("project")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        )
        if key is not None:
            key_cache.put(digest, key, generation)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = raw_key_from_headers(request)
        if not raw:
            return None
        key = api_key_lookup(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiClient(key), key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def scope_required(scope):
    """Permission class: the key must carry `scope` (or `admin`)."""

    class HasScope(permissions.BasePermission):
        message = f"This API key lacks the '{scope}' scope."

        def has_permission(self, request, view):
            if not isinstance(request.user, ApiClient):
                raise exceptions.NotAuthenticated(
                    "Send an API key as 'Authorization: Bearer <key>' or 'X-Api-Key'."
                )
            return request.auth.has_scope(scope)

    HasScope.__name__ = f"HasScope_{scope.replace(':', '_')}"
    return HasScope


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes both accepted headers in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # either header, not both

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        ]
