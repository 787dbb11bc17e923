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


class _RevocationListener:
    """Hears revocations published on Redis in a background thread (one per process).

    `generation` is (epoch, count): the count moves on with each message; the epoch with
    each (re)subscription, since messages sent while we were away are lost. It is None
    while not subscribed, and callers then skip the cache.
    """

    CHANNEL = "triage:api-key-revocations"
    ACK_PREFIX = CHANNEL + ":ack:"
    PING_SECONDS = 5.0  # a silently dead connection is noticed within this (and a timeout)
    RETRY_SECONDS = 1.0

    def __init__(self, url):
        self.url = url
        self.generation = None
        self._subscribed = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="api-key-revocations", daemon=True)
        self._thread.start()

    def alive(self):
        return self._pid == os.getpid() and self._thread.is_alive()

    def wait_subscribed(self, timeout):
        return self._subscribed.wait(timeout)

    def _run(self):
        import redis

        client = redis.Redis.from_url(
            self.url, socket_timeout=2 * self.PING_SECONDS, socket_connect_timeout=0.25
        )
        epoch, warned = 0, False
        while True:
            try:
                pubsub = client.pubsub()
                pubsub.subscribe(self.CHANNEL)
                last_ping = time.monotonic()
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "subscribe":
                        epoch += 1
                        self.generation, warned = (epoch, 0), False
                        self._subscribed.set()
                    elif message is not None and message["type"] == "message":
                        self.generation = (epoch, self.generation[1] + 1)
                        self._acknowledge(client, message["data"])
                    if time.monotonic() - last_ping > self.PING_SECONDS:
                        pubsub.ping()
                        last_ping = time.monotonic()
            except Exception:
                self.generation = None
                self._subscribed.set()  # nobody waits on a Redis that is away
                if not warned:  # once per outage, not per retry
                    logger.warning("api keys: Redis unreachable; looking keys up in the database")
                    warned = True
                time.sleep(self.RETRY_SECONDS)

    def _acknowledge(self, client, data):
        """Tell the announcer this process dropped its cache (the generation moved on)."""
        ack_key = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        if not ack_key.startswith(self.ACK_PREFIX):
            return  # an announcer that does not wait for acks
        try:
            client.pipeline().rpush(ack_key, os.getpid()).expire(ack_key, 60).execute()
        except Exception:
            logger.warning("api keys: could not acknowledge a revocation", exc_info=True)


class RevocationSignal:
    """Tells every process that some key was revoked, so cached keys die at once.

    With REDIS_URL a revocation is published on a Redis channel that each process hears in
    a background thread: an authenticated request costs no Redis round trip and no database
    query. In the embedded shape the signal is a file under TRIAGE_DATA_DIR whose identity
    changes (one stat), so a command run in another process reaches the running server too.
    `current()` returns a generation that changes on each revocation, or None when it
    cannot be known (Redis unreachable): callers then skip the cache.
    """

    SUBSCRIBE_WAIT_SECONDS = 0.5  # once per process: the first request waits to subscribe
    ACK_WAIT_SECONDS = 2.0  # announce() waits this long at most for every listener's ack

    def __init__(self):
        self._listener = None
        self._lock = threading.Lock()

    def _path(self):
        return Path(settings.DATA_DIR) / "api-key-revocations"

    def _redis_listener(self, url):
        listener = self._listener
        if listener is not None and listener.url == url and listener.alive():
            return listener
        with self._lock:
            listener = self._listener
            # Threads do not survive fork (a preloading server): one listener per process.
            if listener is None or listener.url != url or not listener.alive():
                listener = self._listener = _RevocationListener(url)
        listener.wait_subscribed(self.SUBSCRIBE_WAIT_SECONDS)
        return listener

    def current(self):
        if settings.REDIS_URL:
            return self._redis_listener(settings.REDIS_URL).generation
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
                self._publish_and_wait(redis_client(settings.REDIS_URL))
            except Exception:
                # A process that lost its subscription skips its cache; one that saw nothing
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

    def _publish_and_wait(self, client):
        """Publish, then wait until every subscribed process has moved its generation on.

        Pub/sub alone is asynchronous: a request reaching a worker right after PUBLISH
        returned could be served from the cache before the worker's listener thread ran.
        Each listener acks on a list named in the message; PUBLISH says how many heard it.
        """
        ack_key = _RevocationListener.ACK_PREFIX + uuid.uuid4().hex
        listeners = client.publish(_RevocationListener.CHANNEL, ack_key)
        deadline = time.monotonic() + self.ACK_WAIT_SECONDS
        acked = 0
        while acked < listeners and time.monotonic() < deadline:
            # Under redis_client's 0.25 s socket timeout; Redis 6+ takes fractions.
            acked += client.blpop([ack_key], timeout=0.1) is not None
        client.delete(ack_key)
        if acked < listeners:
            logger.warning(
                "api keys: %d of %d processes did not confirm a revocation within %.1f s",
                listeners - acked,
                listeners,
                self.ACK_WAIT_SECONDS,
            )


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
