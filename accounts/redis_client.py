"""One Redis client per URL for the ingest hot path: short timeouts, shared by threads."""

import functools


@functools.cache
def redis_client(url):
    import redis

    # Short timeouts: a slow Redis must not stall ingest; callers fall back instead.
    return redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
