"""API-key authentication and scope checks for the public API."""

import hashlib
import secrets
import threading
import time

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .models import ApiKey

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


class _KeyCache:
    """Valid keys by hash for a few seconds: saves a query on every ingest request.

    A revoked key keeps working for at most TRIAGE_API_KEY_CACHE_SECONDS in a process
    that saw it recently; unknown keys are never cached.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {}

    def get(self, key_hash):
        entry = self._keys.get(key_hash)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, key_hash, key):
        ttl = settings.TRIAGE_API_KEY_CACHE_SECONDS
        if ttl <= 0:
            return
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[key_hash] = (time.monotonic() + ttl, key)

    def clear(self):
        with self._lock:
            self._keys.clear()


key_cache = _KeyCache()


def api_key_lookup(raw):
    """The live ApiKey (with its project) for a raw key, or None."""
    digest = api_key_hash(raw)
    key = key_cache.get(digest)
    if key is None:
        key = (
            ApiKey.objects.select_related("project")
            .filter(key_hash=digest, revoked_at__isnull=True)
            .first()
        )
        if key is not None:
            key_cache.put(digest, key)
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

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        ]
