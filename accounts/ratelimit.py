"""Per-API-key rate limit: a fixed window counted in Redis, or in-process without Redis.

Redis makes the limit hold across gunicorn workers and hosts. The embedded shape has one
process, so a counter in memory is exact there. If Redis is unreachable the limiter falls
back to the in-process counter rather than failing ingest.
"""

import logging
import math
import threading
import time

from django.conf import settings
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


class RedisCounter:
    """The window's count lives in Redis (shared by every worker process and host).

    To spare a Redis round trip per request, a process leases a few slots at a time
    (INCRBY lease) and hands them out locally. It never admits more than the limit; it may
    refuse slightly early while other processes hold unused leased slots (at most
    processes × (lease − 1) per window; the lease is 1/200 of the limit, capped at 50).
    """

    def __init__(self, url):
        self._redis = redis_client(url)
        self._lock = threading.Lock()
        self._leases = {}  # key -> (window, next slot, last slot leased)

    def admit(self, key, window, ttl, limit):
        """True if one more request fits the window."""
        lease = max(1, min(50, limit // 200))
        with self._lock:
            held = self._leases.get(key)
            if held and held[0] == window and held[1] <= held[2]:
                self._leases[key] = (window, held[1] + 1, held[2])
                return held[1] <= limit
        name = f"triage:rl:{key}:{window}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(name, lease)
        pipe.expire(name, ttl + 1)
        total, _ = pipe.execute()
        first, last = int(total) - lease + 1, min(int(total), limit)
        with self._lock:
            if len(self._leases) > 10_000:
                self._leases.clear()
            self._leases[key] = (window, first + 1, last)
        return first <= limit


local_counter = LocalCounter()
_redis_counters = {}
_last_redis_warning = 0.0


def _redis_counter(url):
    if url not in _redis_counters:
        _redis_counters[url] = RedisCounter(url)
    return _redis_counters[url]


def rate_limit_hit(*, key, now=None):
    """Count one request for `key`. Returns seconds to wait (0 when allowed)."""
    global _last_redis_warning
    parsed = rate_parse(settings.TRIAGE_RATE_LIMIT)
    if parsed is None:
        return 0
    limit, period = parsed
    now = time.time() if now is None else now
    window = int(now // period)
    admitted = None
    if settings.REDIS_URL:
        try:
            admitted = _redis_counter(settings.REDIS_URL).admit(key, window, period, limit)
        except Exception:
            if now - _last_redis_warning > 60:
                _last_redis_warning = now
                logger.warning("rate limit: Redis unreachable; counting in-process")
    if admitted is None:
        admitted = local_counter.hit(key, window, period) <= limit
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
