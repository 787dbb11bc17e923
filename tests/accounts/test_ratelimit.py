"""Per-key rate limit: Redis in production, the database without Redis; shared by processes."""

import json

import pytest
import requests
from django.test import Client

from accounts.models import RateLimitCount
from accounts.ratelimit import rate_limit_hit, rate_limit_store, rate_parse
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import PRODUCTION_SHAPE, web_server

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
    assert keys  # the counter lives in Redis, so every web worker sees it
    values = [int(redis.Redis.from_url(settings.REDIS_URL).get(k)) for k in keys]
    assert 1 in values


def test_unreachable_redis_falls_back_to_counting_in_the_database(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.TRIAGE_RATE_LIMIT = "2/minute"
    now = 1_000_000.0
    waits = [rate_limit_hit(key="k-fallback", now=now) for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] == 20  # window ends at 1_000_020
    assert RateLimitCount.objects.get(name=f"k-fallback:{int(now // 60)}").count == 3
    assert rate_limit_store() == "database"


def test_without_redis_the_count_is_shared_through_the_database(settings):
    """Another process's requests (its rows in the shared count) use up this one's limit."""
    settings.REDIS_URL = ""
    settings.TRIAGE_RATE_LIMIT = "5/minute"
    now = 1_000_000.0
    name = f"k-shared:{int(now // 60)}"
    RateLimitCount.objects.create(name=name, count=3, expires_at="2999-01-01T00:00:00Z")
    waits = [rate_limit_hit(key="k-shared", now=now) for _ in range(3)]
    assert waits == [0, 0, 20]  # 3 elsewhere + 2 here fill the 5
    assert RateLimitCount.objects.get(name=name).count == 6


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_without_redis_share_one_limit(project, tmp_path):
    """Issue 14 #9: without Redis each process used to count alone (8,000/8,000 accepted)."""
    key = api_key_for(project, scopes=["ingest"])
    env = {"REDIS_URL": "", "TRIAGE_RATE_LIMIT": "10/hour"}
    statuses = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        web_server(tmp_path / "a", **env) as first,
        web_server(tmp_path / "b", **env) as second,
    ):
        for url in [first, second] * 8:  # 16 requests, alternating between the processes
            response = requests.post(
                f"{url}/api/v1/feedback-tokens", json={"trace_id": "t-1"}, timeout=30,
                headers={"Authorization": f"Bearer {key}"},
            )  # fmt: skip
            statuses.append(response.status_code)
            health = requests.get(f"{url}/healthz", timeout=30).json()
            assert health["rate_limit"] == "database"
    assert statuses.count(201) == 10 and statuses.count(429) == 6, statuses
    assert statuses[:10] == [201] * 10


def test_rate_parse():
    assert rate_parse("600/minute") == (600, 60)
    assert rate_parse("5/s") == (5, 1)
    assert rate_parse("100/10m") == (100, 600)
    assert rate_parse("0") is None
    assert PRODUCTION_SHAPE in (True, False)
