"""Per-key rate limit: Redis in production, in-process in the embedded shape."""

import json

import pytest
from django.test import Client

from accounts.ratelimit import rate_limit_hit, rate_parse
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import PRODUCTION_SHAPE

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post("/api/v1/feedback", data=json.dumps(body), content_type="application/json")


def test_a_key_over_its_rate_gets_429_with_retry_after(project, settings):
    settings.TRIAGE_RATE_LIMIT = "3/hour"
    first = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    second = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    assert [post(first, {"rating": "down"}).status_code for _ in range(3)] == [201] * 3
    limited = post(first, {"rating": "down"})
    assert limited.status_code == 429
    assert limited.json()["error"] == "throttled" and "detail" in limited.json()
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert post(second, {"rating": "down"}).status_code == 201  # buckets are per key
    assert FeedbackEvent.objects.count() == 4


@pytest.mark.services
def test_production_counts_in_redis_shared_by_all_workers(project, settings):
    import redis

    settings.TRIAGE_RATE_LIMIT = "2/hour"
    client = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    assert post(client, {"rating": "down"}).status_code == 201
    keys = redis.Redis.from_url(settings.REDIS_URL).keys("triage:rl:*")
    assert keys  # the counter lives in Redis, so every gunicorn worker sees it
    values = [int(redis.Redis.from_url(settings.REDIS_URL).get(k)) for k in keys]
    assert 1 in values


def test_unreachable_redis_falls_back_to_counting_in_process(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.TRIAGE_RATE_LIMIT = "2/minute"
    now = 1_000_000.0
    waits = [rate_limit_hit(key="k-fallback", now=now) for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] == 20  # window ends at 1_000_020


def test_rate_parse():
    assert rate_parse("600/minute") == (600, 60)
    assert rate_parse("5/s") == (5, 1)
    assert rate_parse("100/10m") == (100, 600)
    assert rate_parse("0") is None
    assert PRODUCTION_SHAPE in (True, False)
