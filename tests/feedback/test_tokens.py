"""Browser-safe feedback tokens: minted with a key, scoped to one trace/run, short-lived."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiKey
from feedback.models import FeedbackEvent, FeedbackTokenRevocation
from tests.factories import RunFactory, api_key_for

pytestmark = pytest.mark.django_db


def post(client, path, body, **kwargs):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kwargs)


def mint(api, **body):
    response = post(api, "/api/v1/feedback-tokens", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_a_browser_posts_feedback_with_only_the_token(api, project):
    token = mint(api, trace_id="tr-9", expires_in=600)
    assert token["url"].endswith(f"/api/v1/feedback-tokens/{token['token']}")
    browser = Client()  # no API key anywhere
    response = post(browser, token["url"], {"rating": "down", "comment": "wrong", "id": "b-1"})
    assert response.status_code == 201 and response.json() == {"id": "b-1", "status": "created"}
    assert response["Access-Control-Allow-Origin"] == "*"
    event = FeedbackEvent.objects.get(project=project)
    assert (event.trace_id, event.rating, event.comment, event.source) == (
        "tr-9", "down", "wrong", "explicit",
    )  # fmt: skip
    assert (
        post(browser, token["url"], {"rating": "down", "comment": "wrong", "id": "b-1"}).json()[
            "status"
        ]
        == "duplicate"
    )


def test_token_for_a_run_takes_the_run_trace(api, project):
    RunFactory(project=project, run_id="child", trace_id="root-trace")
    token = mint(api, run_id="child")
    assert token["trace_id"] == "root-trace"
    assert post(Client(), token["url"], {"score": 0.0}).status_code == 201
    event = FeedbackEvent.objects.get()
    assert (event.trace_id, event.run_id) == ("root-trace", "child")


def test_token_cannot_be_used_for_another_trace_or_fields_the_browser_must_not_set(api):
    url = mint(api, trace_id="tr-1")["url"]
    other = post(Client(), url, {"rating": "down", "trace_id": "tr-2"})
    assert other.status_code == 403 and "tr-1" in other.json()["detail"]
    forged = post(Client(), url, {"rating": "down", "customer_tier": "enterprise"})
    assert forged.status_code == 400 and "customer_tier" in forged.json()["fields"]
    assert not FeedbackEvent.objects.exists()


def test_expired_tampered_or_revoked_tokens_are_401(api, project, monkeypatch):
    token = mint(api, trace_id="tr-1", expires_in=60)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    expired = post(Client(), token["url"], {"rating": "down"})
    assert expired.status_code == 401 and expired.json()["error"] == "token_expired"
    monkeypatch.setattr(time, "time", real_time)

    tampered = post(Client(), token["url"][:-2] + "xx", {"rating": "down"})
    assert tampered.status_code == 401 and tampered.json()["error"] == "invalid_token"

    ApiKey.objects.filter(project=project).update(revoked_at=timezone.now())
    revoked = post(Client(), token["url"], {"rating": "down"})
    assert revoked.status_code == 401
    assert not FeedbackEvent.objects.exists()


def test_minting_needs_an_ingest_key_and_a_target(project):
    assert post(Client(), "/api/v1/feedback-tokens", {"trace_id": "t"}).status_code == 401
    reader = Client(headers={"X-Api-Key": api_key_for(project, scopes=["datasets:read"])})
    assert post(reader, "/api/v1/feedback-tokens", {"trace_id": "t"}).status_code == 403
    ingest = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    missing = post(ingest, "/api/v1/feedback-tokens", {})
    assert missing.status_code == 400 and "trace_id" in missing.json()["fields"]
    too_long = post(ingest, "/api/v1/feedback-tokens", {"trace_id": "t", "expires_in": 10**9})
    assert too_long.status_code == 400 and "expires_in" in too_long.json()["fields"]


def test_cors_preflight_is_answered(api):
    url = mint(api, trace_id="t")["url"]
    response = Client().options(url, headers={"Origin": "https://app.example"})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


def test_the_app_revokes_one_token_and_the_others_keep_working(api, project):
    revoked, kept = mint(api, trace_id="tr-1"), mint(api, trace_id="tr-2")
    other_key = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    response = other_key.delete(f"/api/v1/feedback-tokens/{revoked['token']}")  # same project
    assert response.status_code == 204
    assert other_key.delete(f"/api/v1/feedback-tokens/{revoked['token']}").status_code == 204

    refused = post(Client(), revoked["url"], {"rating": "down"})
    assert refused.status_code == 401 and refused.json()["error"] == "token_revoked"
    assert post(Client(), kept["url"], {"rating": "down"}).status_code == 201
    assert list(FeedbackEvent.objects.values_list("trace_id", flat=True)) == ["tr-2"]
    (row,) = FeedbackTokenRevocation.objects.all()
    assert abs((row.expires_at - parse_datetime(revoked["expires_at"])).total_seconds()) < 1


def test_revoking_a_token_needs_a_key_of_its_project(api, project, other_project):
    token = mint(api, trace_id="tr-1")
    path = f"/api/v1/feedback-tokens/{token['token']}"
    assert Client().delete(path).status_code == 401  # the browser cannot revoke it
    reader = Client(headers={"X-Api-Key": api_key_for(project, scopes=["datasets:read"])})
    assert reader.delete(path).status_code == 403
    stranger = Client(headers={"X-Api-Key": api_key_for(other_project, scopes=["ingest"])})
    forbidden = stranger.delete(path)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    forged = api.delete(path[:-2] + "xx")
    assert forged.status_code == 404 and forged.json()["error"] == "not_found"
    assert not FeedbackTokenRevocation.objects.exists()
    assert post(Client(), token["url"], {"rating": "down"}).status_code == 201


def test_expired_revocations_are_dropped(api, monkeypatch):
    first, second = mint(api, trace_id="tr-1", expires_in=60), mint(api, trace_id="tr-2")
    assert api.delete(f"/api/v1/feedback-tokens/{first['token']}").status_code == 204
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 120)
    later = timezone.now() + timedelta(seconds=120)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert api.delete(f"/api/v1/feedback-tokens/{second['token']}").status_code == 204
    # The first token's row guarded nothing any more; an expired token needs no row either.
    assert api.delete(f"/api/v1/feedback-tokens/{first['token']}").status_code == 204
    assert FeedbackTokenRevocation.objects.count() == 1


def test_openapi_documents_revoking_a_token_with_either_key_header():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = schema["paths"]["/api/v1/feedback-tokens/{token}"]
    revoke, browser_post = operations["delete"], operations["post"]
    assert revoke["operationId"] == "feedback_token_revoke"
    assert revoke["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert {"204", "401", "403", "404"} <= set(revoke["responses"])
    assert browser_post.get("security") in (None, [], [{}])  # the token is the credential
