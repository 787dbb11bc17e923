"""POST /api/v1/feedback answers the same from its fast path as from DRF's full cycle.

`Accept: application/*` takes the full DRF way (content negotiation is needed for it) and
renders the same JSON, so each answer can be compared byte for byte and header for header.
"""

import hashlib
import json

import pytest
from django.db import connection

from feedback.models import FeedbackEvent

pytestmark = pytest.mark.django_db

FULL_DRF = {"HTTP_ACCEPT": "application/*"}


def _post(client, body, **headers):
    return client.post(
        "/api/v1/feedback", data=json.dumps(body), content_type="application/json", **headers
    )


def _answer(response):
    headers = {k: v for k, v in response.items() if k not in ("Retry-After",)}
    return response.status_code, headers, response.content


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
def test_fast_path_and_drf_give_the_same_answer_and_rows(api, project, first, second):
    def run(suffix, **headers):
        def renamed(body):
            text = json.dumps(body).replace('"id": "', f'"id": "{suffix}')
            return json.loads(text)

        answers = [_post(api, renamed(first), **headers)]
        if second is not None:
            answers.append(_post(api, renamed(second), **headers))
        return answers

    fast = run("fast-")
    full = run("full-", **FULL_DRF)
    for f, d in zip(fast, full, strict=True):
        status, headers, content = _answer(d)
        assert (f.status_code, dict(f.items())) == (status, headers)
        assert f.content == content.replace(b"full-", b"fast-")
    rows = {
        c: (r, s) for c, r, s in FeedbackEvent.objects.values_list("client_id", "rating", "score")
    }
    assert {c.replace("full-", "fast-"): v for c, v in rows.items() if c.startswith("full-")} == {
        c: v for c, v in rows.items() if c.startswith("fast-")
    }


def test_refused_by_the_rate_limit_the_fast_path_answers_429_like_drf(api, project, settings):
    settings.TRIAGE_RATE_LIMIT = "2/minute"
    assert _post(api, {"rating": "down"}).status_code == 201
    assert _post(api, {"rating": "down"}).status_code == 201
    refused = _post(api, {"rating": "down"})
    refused_by_drf = _post(api, {"rating": "down"}, **FULL_DRF)
    assert refused.status_code == refused_by_drf.status_code == 429
    assert refused.json() == refused_by_drf.json()
    assert refused.json()["error"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert FeedbackEvent.objects.filter(project=project).count() == 2


def test_without_a_valid_key_the_answer_is_drfs_401(client, project):
    response = _post(client, {"rating": "down"}, HTTP_AUTHORIZATION="Bearer tri_nope")
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not FeedbackEvent.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_the_ingest_insert_is_prepared_once_per_connection(api, project):
    def prepared_inserts():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement LIKE 'INSERT INTO \"feedback_feedbackevent\"%%'"
            )
            return cursor.fetchone()[0]

    assert prepared_inserts() == 0
    assert _post(api, {"id": "p1", "rating": "down", "comment": "first"}).status_code == 201
    batch = {"events": [{"id": "p2", "score": 0.5}, {"id": "p1", "rating": "up"}]}
    assert _post(api, batch).json() == {
        "results": [
            {"index": 0, "id": "p2", "status": "created"},
            {
                "index": 1,
                "id": "p1",
                "status": "error",
                "errors": {"id": ["This id was already used with a different body."]},
            },
        ]
    }
    assert _post(api, {"id": "p1", "rating": "down", "comment": "first"}).status_code == 200
    assert prepared_inserts() == 1  # three writes, one statement prepared
    rows = FeedbackEvent.objects.order_by("client_id").values_list("client_id", "comment", "score")
    assert list(rows) == [("p1", "first", None), ("p2", "", 0.5)]


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


def test_rows_keep_every_value_through_the_batch_json(api, project):
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
        response = _post(api, body)
        assert response.status_code in (200, 201), response.content
    rows = {e.client_id: e for e in FeedbackEvent.objects.filter(project=project)}
    assert rows["j1"].comment == 'café ☕ "quoted" \\ back'
    assert rows["j1"].metadata == events[0]["metadata"]
    assert rows["j1"].created_at.isoformat() == "2026-11-30T03:45:00.123456+00:00"
    assert rows["j2"].created_at.isoformat() == "2026-11-30T03:45:00+00:00"
    assert rows["j2"].score == 1.0
    assert rows["j3"].metadata == {"big": 2**70, "n": 1.5}
