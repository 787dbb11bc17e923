"""Per-API-key rate limit: a fixed window counted in Redis, else in the database.

Both are shared by every web worker and host, so the limit holds for the service as
a whole. Redis is tried first when configured; if it is unreachable the count goes to the
database, and if that fails too, to this process alone rather than failing ingest.
/healthz names the store the last request was counted in (`rate_limit_store()`).

Why not the `limits` library: it has no SQL storage, and it spends a Redis round trip on
every request, where leasing slots (LeasedCounter) spends one per few dozen: on a
single ingest post that round trip would be a tenth of the whole request.
"""

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from rest_framework.throttling import BaseThrottle

from .redis_client import redis_client

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
            "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip


def rate_parse(rate):
    """'600/minute' → (600, 60). An empty rate or '0' disables the limit → None."""
    if not rate or str(rate).strip() in {"0", "off", "none"}:
        return None
    count, _, period = str(rate).partition("/")
    period = period.strip().lower() or "s"
    number = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(number) :] if number else period
    if unit not in _PERIODS:
        raise ValueError(f"Unknown rate period in {rate!r}")
    return int(count), _PERIODS[unit] * (int(number) if number else 1)


class LocalCounter:
    """Fixed-window counters in this process (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._windows = {}

    def hit(self, key, window, ttl):
        with self._lock:
            if len(self._windows) > 10_000:  # drop windows that have passed
                self._windows = {k: v for k, v in self._windows.items() if v[0] >= window}
            start, count = self._windows.get(key, (window, 0))
            if start != window:
                start, count = window, 0
            self._windows[key] = (start, count + 1)
            return count + 1

    def clear(self):
        with self._lock:
            self._windows.clear()


class LeasedCounter:
    """The window's count lives in a shared store (Redis, the database).

    To spare a round trip per request, a process leases a few slots at a time (adds
    `lease` to the shared count) and hands them out locally. It never admits more than the
    limit; it may refuse slightly early while other processes hold unused leased slots (at
    most processes × (lease − 1) per window; the lease is 1/200 of the limit, capped at 50).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._leases = {}  # key -> (window, next slot, last slot leased)

    def _add(self, name, amount, ttl):
        """Add `amount` to the shared count `name` (kept `ttl` seconds); the new total."""
        raise NotImplementedError

    def admit(self, key, window, ttl, limit):
        """True if one more request fits the window."""
        lease = max(1, min(50, limit // 200))
        with self._lock:
            held = self._leases.get(key)
            if held and held[0] == window and held[1] <= held[2]:
                self._leases[key] = (window, held[1] + 1, held[2])
                return held[1] <= limit
        total = self._add(f"{key}:{window}", lease, ttl)
        first, last = total - lease + 1, min(total, limit)
        with self._lock:
            if len(self._leases) > 10_000:
                self._leases.clear()
            self._leases[key] = (window, first + 1, last)
        return first <= limit

    def clear(self):
        with self._lock:
            self._leases.clear()


class RedisCounter(LeasedCounter):
    def __init__(self, url):
        super().__init__()
        self._redis = redis_client(url)

    def _add(self, name, amount, ttl):
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(f"triage:rl:{name}", amount)
        pipe.expire(f"triage:rl:{name}", ttl + 1)
        total, _ = pipe.execute()
        return int(total)


class DatabaseCounter(LeasedCounter):
    """Counts in accounts.RateLimitCount with one upsert per lease (PostgreSQL and SQLite
    both add atomically under ON CONFLICT … DO UPDATE)."""

    PURGE_SECONDS = 60  # windows past their expiry are deleted at most this often

    def __init__(self):
        super().__init__()
        self._purged_at = 0.0

    def _add(self, name, amount, ttl):
        from .models import RateLimitCount

        table = connection.ops.quote_name(RateLimitCount._meta.db_table)
        now = datetime.now(tz=UTC)
        expires_at = connection.ops.adapt_datetimefield_value(now + timedelta(seconds=ttl + 1))
        # Atomic: inside a caller's transaction a failure must not break it.
        with transaction.atomic(), connection.cursor() as cursor:
            if time.monotonic() - self._purged_at > self.PURGE_SECONDS:
                self._purged_at = time.monotonic()
                RateLimitCount.objects.filter(expires_at__lt=now).delete()
            cursor.execute(
                f"INSERT INTO {table} (name, count, expires_at) VALUES (%s, %s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET count = {table}.count + excluded.count "
                "RETURNING count",
                [name, amount, expires_at],
            )
            return int(cursor.fetchone()[0])


local_counter = LocalCounter()
database_counter = DatabaseCounter()
_redis_counters = {}
_last_warning = {}
_last_store = None


def _redis_counter(url):
    if url not in _redis_counters:
        _redis_counters[url] = RedisCounter(url)
    return _redis_counters[url]


def _warn(store, message, now):
    if now - _last_warning.get(store, 0.0) > 60:  # once a minute per outage, not per request
        _last_warning[store] = now
        logger.warning(message)


def rate_limit_store():
    """Where counts go: "redis", "database" or "in-process" (this process alone)."""
    if _last_store is not None:
        return _last_store
    return "redis" if settings.REDIS_URL else "database"


def rate_limit_reset():
    """Forget this process's leases and local counts (tests)."""
    global _last_store
    local_counter.clear()
    database_counter.clear()
    for counter in _redis_counters.values():
        counter.clear()
    _last_store = None


def rate_limit_hit(*, key, now=None):
    """Count one request for `key`. Returns seconds to wait (0 when allowed)."""
    global _last_store
    parsed = rate_parse(settings.TRIAGE_RATE_LIMIT)
    if parsed is None:
        return 0
    limit, period = parsed
    now = time.time() if now is None else now
    window = int(now // period)
    admitted, store = None, "redis"
    if settings.REDIS_URL:
        try:
            admitted = _redis_counter(settings.REDIS_URL).admit(key, window, period, limit)
        except Exception:
            _warn("redis", "rate limit: Redis unreachable; counting in the database", now)
    if admitted is None:
        store = "database"
        try:
            admitted = database_counter.admit(key, window, period, limit)
        except Exception:
            _warn("database", "rate limit: database unavailable; counting in-process", now)
    if admitted is None:
        store = "in-process"
        admitted = local_counter.hit(key, window, period) <= limit
    _last_store = store
    if admitted:
        return 0
    return max(1, math.ceil((window + 1) * period - now))


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: one bucket per API key (feedback tokens count against their key)."""

    def allow_request(self, request, view):
        digest = getattr(request.auth, "key_hash", None)
        if digest is None:
            self._wait = None
            return True
        self._wait = rate_limit_hit(key=digest[:24])
        return self._wait == 0

    def wait(self):
        return self._wait
