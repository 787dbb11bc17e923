"""POST /api/v1/feedback: the ingest lane (feedback/ingest_lane.py) answers a plain post as
DRF's full cycle does, byte for byte and header for header, and leaves the rest to DRF.

Posts go into config.wsgi.application, the production entry point, on this thread.
`Accept: application/*` is not a plain post, so it takes DRF's way and renders the same
JSON: each answer can be compared with the lane's.
"""

import hashlib
import json
import logging

import pytest
from django.db import connection

from config.wsgi import api as django_api
from feedback import ingest_lane
from feedback.api import FeedbackApi
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import kept_test_connection, wsgi_call

pytestmark = pytest.mark.django_db

FULL_DRF = {"HTTP_ACCEPT": "application/*"}


@pytest.fixture
def key(project):
    with kept_test_connection():
        yield api_key_for(project)


@pytest.fixture
def drf_posts(monkeypatch):
    """How many posts DRF's view answered (the rest were the lane's)."""
    calls = []
    post = FeedbackApi.post

    def counted(self, request):
        calls.append(request)
        return post(self, request)

    monkeypatch.setattr(FeedbackApi, "post", counted)
    return calls


def _post(key, body, app=None, **environ):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {"CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Bearer {key}"} | environ
    return wsgi_call("POST", "/api/v1/feedback", data, app=app, **environ)


@pytest.mark.parametrize(
    "first, second",
    [
        ({"id": "a", "rating": "down", "comment": "x"}, None),  # 201 created
        ({"id": "b", "rating": "down"}, {"id": "b", "rating": "down"}),  # 200 duplicate
        ({"id": "c", "rating": "down"}, {"id": "c", "rating": "up"}),  # 409 conflict
        ({"id": "d", "rating": "sideways"}, None),  # 400 naming the field
        ({"events": [{"id": "e", "rating": "down"}, {"id": "e2", "score": 7}]}, None),  # batch
    ],
)
def test_the_lane_and_drf_give_the_same_answer_and_rows(key, project, drf_posts, first, second):
    _post(key, {"id": "learn", "rating": "down"})  # the lane learns from DRF's first answer

    def run(suffix, **environ):
        def renamed(body):
            return json.loads(json.dumps(body).replace('"id": "', f'"id": "{suffix}'))

        answers = [_post(key, renamed(first), **environ)]
        if second is not None:
            answers.append(_post(key, renamed(second), **environ))
        return answers

    drf_posts.clear()
    lane = run("lane-")
    assert drf_posts == []  # the lane answered every one
    full = run("full-", **FULL_DRF)
    assert len(drf_posts) == len(full)
    for (status, headers, content), (d_status, d_headers, d_content) in zip(
        lane, full, strict=True
    ):
        assert (status, headers) == (d_status, d_headers)
        assert content == d_content.replace(b"full-", b"lane-")
    rows = {
        c: (r, s) for c, r, s in FeedbackEvent.objects.values_list("client_id", "rating", "score")
    }
    assert {c.replace("full-", "lane-"): v for c, v in rows.items() if c.startswith("full-")} == {
        c: v for c, v in rows.items() if c.startswith("lane-")
    }


def test_a_new_lane_leaves_posts_to_django_until_it_has_its_headers(key, drf_posts, settings):
    """Per scheme: behind a TLS proxy Django adds HSTS, so https answers are learned apart."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    lane = ingest_lane.IngestLane(type(django_api)())  # middleware reads HSTS when loaded
    https = {"HTTP_X_FORWARDED_PROTO": "https"}
    answers = [_post(key, {"id": f"h{n}", "rating": "down"}, app=lane) for n in range(2)]
    answers += [_post(key, {"id": f"s{n}", "rating": "down"}, app=lane, **https) for n in range(2)]
    assert [status for status, _, _ in answers] == [201] * 4
    assert [r.data["id"] for r in drf_posts] == ["h0", "s0"]  # then the lane answered
    assert answers[0][1] == answers[1][1] and answers[2][1] == answers[3][1]
    assert "Strict-Transport-Security" not in answers[1][1]
    assert answers[3][1]["Strict-Transport-Security"] == "max-age=3600"
    assert answers[1][1]["Content-Security-Policy"] == answers[3][1]["Content-Security-Policy"]
    assert answers[1][1]["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "body, environ, status, error",
    [
        (b'{"rating": "down"', {}, 400, "malformed_body"),
        (b'["not", "an", "object"]', {}, 400, "invalid"),
        (b'{"events": []}', {}, 400, "invalid"),
        (b'{"rating": "down"}', {"HTTP_AUTHORIZATION": "Bearer tri_nope"}, 401, "unauthenticated"),
        (b'{"rating": "down"}', {"HTTP_HOST": "evil.example"}, 400, None),
        (b'{"rating": "down"}', {"CONTENT_TYPE": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_what_the_lane_does_not_take_drf_answers(key, drf_posts, body, environ, status, error):
    _post(key, {"rating": "down"})  # learned: from here the lane takes every plain post
    drf_posts.clear()
    answer_status, headers, content = _post(key, body, **environ)
    assert answer_status == status
    if error:
        assert json.loads(content)["error"] == error
    if status == 401:
        assert headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert FeedbackEvent.objects.count() == 1


def test_an_oversized_body_is_refused_before_it_is_read(key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    _post(key, {"rating": "down"})
    body = json.dumps({"rating": "down", "comment": "x" * 200}).encode()
    status, _, content = _post(key, body)
    assert status == 413 and json.loads(content)["error"] == "body_too_large"
    assert FeedbackEvent.objects.count() == 1


def test_the_lanes_refusals_are_logged_like_djangos(key, caplog):
    _post(key, {"rating": "down"})
    with caplog.at_level(logging.WARNING, logger="django.request"):
        _post(key, {"id": "x", "rating": "sideways", "comment": "call me on 555-0100"})
        _post(key, {"id": "x2", "rating": "sideways"}, **FULL_DRF)
    lines = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert lines == ["Bad Request: /api/v1/feedback"] * 2
    assert [r.status_code for r in caplog.records] == [400, 400]


def test_refused_by_the_rate_limit_the_lane_counts_once_and_drf_answers_429(key, project, settings):
    settings.TRIAGE_RATE_LIMIT = "3/minute"
    assert _post(key, {"rating": "down"})[0] == 201  # DRF's (the lane learns)
    assert _post(key, {"rating": "down"})[0] == 201  # the lane's
    assert _post(key, {"rating": "down"})[0] == 201
    status, headers, content = _post(key, {"rating": "down"})
    _, _, by_drf = _post(key, {"rating": "down"}, **FULL_DRF)
    assert status == 429 and json.loads(content) == json.loads(by_drf)
    assert json.loads(content)["error"] == "throttled"
    assert int(headers["Retry-After"]) >= 1
    assert FeedbackEvent.objects.filter(project=project).count() == 3


def test_body_hash_keeps_the_form_stored_hashes_were_made_from():
    """Stored rows compare against it: a retry after an upgrade must stay a duplicate."""
    from feedback.services import body_hash

    canonical = '{"comment": "caf\\u00e9", "id": "a", "metadata": {"n": 1.5}, "rating": "down"}'
    raw = {"rating": "down", "id": "a", "metadata": {"n": 1.5}, "comment": "café"}
    assert body_hash(raw) == hashlib.sha256(canonical.encode()).hexdigest()


def test_user_hash_keeps_its_form(project, settings):
    """Stored user hashes group a user's events: the cached key must not change them."""
    import hmac

    from feedback.services import user_id_pseudonymize

    expected = hmac.new(settings.SECRET_KEY.encode(), b"acme:ann@example.com", "sha256")
    assert user_id_pseudonymize(project=project, user_id="ann@example.com") == (
        expected.hexdigest()
    )
    settings.SECRET_KEY = "another secret key, another hash " * 2
    assert user_id_pseudonymize(project=project, user_id="ann@example.com") != (
        expected.hexdigest()
    )


def test_rows_keep_every_value_through_the_batch_json(key, project):
    """orjson writes the batch; integers past 64 bits take the standard library's way."""
    events = [
        {
            "id": "j1",
            "rating": "down",
            "comment": 'café ☕ "quoted" \\ back',
            "created_at": "2026-11-30T09:15:00.123456+05:30",
            "metadata": {"f": 0.1, "neg": -3, "nested": {"list": [1, "two", None, True]}},
        },
        {"id": "j2", "score": 1, "created_at": "2026-11-30T03:45:00Z"},
    ]
    big = {"id": "j3", "rating": "down", "metadata": {"big": 2**70, "n": 1.5}}
    for body in ({"events": events}, big):
        status, _, content = _post(key, body)
        assert status in (200, 201), content
    rows = {e.client_id: e for e in FeedbackEvent.objects.filter(project=project)}
    assert rows["j1"].comment == 'café ☕ "quoted" \\ back'
    assert rows["j1"].metadata == events[0]["metadata"]
    assert rows["j1"].created_at.isoformat() == "2026-11-30T03:45:00.123456+00:00"
    assert rows["j2"].created_at.isoformat() == "2026-11-30T03:45:00+00:00"
    assert rows["j2"].score == 1.0
    assert rows["j3"].metadata == {"big": 2**70, "n": 1.5}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ends a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_a_post_on_a_broken_connection_gets_a_json_500_and_the_next_one_reconnects(project, caplog):
    import psycopg

    key = api_key_for(project)
    assert _post(key, {"id": "ok1", "rating": "down"})[0] == 201  # DRF's; the lane learns
    assert _post(key, {"id": "ok2", "rating": "down"})[0] == 201  # the lane's
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    with caplog.at_level(logging.ERROR, logger="django.request"):
        status, headers, content = _post(key, {"id": "lost", "rating": "down"})
    assert status == 500 and json.loads(content)["error"] == "server_error"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert [r.getMessage() for r in caplog.records] == ["Internal Server Error: /api/v1/feedback"]
    assert _post(key, {"id": "ok3", "rating": "down"})[0] == 201
    stored = FeedbackEvent.objects.values_list("client_id", flat=True)
    assert sorted(stored) == ["ok1", "ok2", "ok3"]
