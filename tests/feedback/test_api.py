import json

import pytest
from django.test import Client

from feedback.models import FeedbackEvent, Run
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def test_feedback_is_stored_with_every_field_and_a_pseudonymized_user(api, project):
    body = {
        "id": "fb-1",
        "trace_id": "tr-1",
        "run_id": "run-1",
        "session_id": "s-1",
        "message_id": "m-1",
        "user_id": "alice@example.com",
        "rating": "down",
        "category": "billing",
        "comment": "charged twice",
        "prompt_hash": "p1",
        "model_id": "gpt-4o",
        "customer_tier": "enterprise",
        "locale": "de-DE",
        "intent": "refund_request",
        "source": "implicit",
        "created_at": "2026-11-20T08:00:00Z",
        "metadata": {"k": [1, 2]},
    }
    response = post(api, "/api/v1/feedback", body)
    assert response.status_code == 201
    assert response.json() == {"id": "fb-1", "status": "created"}
    event = FeedbackEvent.objects.get(project=project, client_id="fb-1")
    assert (event.trace_id, event.run_id, event.category, event.customer_tier) == (
        "tr-1",
        "run-1",
        "billing",
        "enterprise",
    )
    assert (
        event.source == "implicit" and event.locale == "de-DE" and event.metadata == {"k": [1, 2]}
    )
    assert event.intent == "refund_request"
    assert event.created_at.isoformat() == "2026-11-20T08:00:00+00:00"
    assert len(event.user_hash) == 64 and "alice" not in event.user_hash


def test_same_id_same_body_is_a_duplicate_and_different_body_a_conflict(api, project):
    body = {"id": "fb-2", "trace_id": "t", "rating": "down", "comment": "bad"}
    assert post(api, "/api/v1/feedback", body).status_code == 201
    again = post(api, "/api/v1/feedback", body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    changed = post(api, "/api/v1/feedback", {**body, "comment": "worse"})
    assert changed.status_code == 409
    assert changed.json()["error"] == "conflict"
    assert FeedbackEvent.objects.filter(project=project).count() == 1


def test_events_without_id_are_each_new(api, project):
    body = {"trace_id": "t", "score": 0.1}
    assert post(api, "/api/v1/feedback", body).status_code == 201
    assert post(api, "/api/v1/feedback", body).status_code == 201
    assert FeedbackEvent.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trace_id": "t"}, "rating"),
        ({"rating": "sideways"}, "rating"),
        ({"score": 1.5}, "score"),
        ({"rating": "down", "category": "rude"}, "category"),
        ({"rating": "down", "comment": "x" * 10_001}, "comment"),
        ({"rating": "down", "created_at": "yesterday"}, "created_at"),
        ({"rating": "down", "source": "psychic"}, "source"),
        ({"rating": "down", "metadata": "not an object"}, "metadata"),
        ({"rating": "down", "id": "x" * 129}, "id"),
        ({"rating": "down", "colour": "red"}, "colour"),
        ({"rating": "down", "intent": "x" * 129}, "intent"),
        ({"rating": "down", "intent": ["refund"]}, "intent"),
        ({"rating": "down", "intent": {"name": "refund"}}, "intent"),
    ],
)
def test_bad_feedback_gets_a_400_naming_the_field(api, project, body, field):
    response = post(api, "/api/v1/feedback", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid"
    assert field in payload["fields"] and field in payload["detail"]
    assert not FeedbackEvent.objects.exists()


def test_unknown_category_error_lists_the_allowed_ones(api):
    response = post(api, "/api/v1/feedback", {"rating": "down", "category": "rude"})
    assert (
        "wrong, unsafe, slow, unhelpful, billing, other" in response.json()["fields"]["category"][0]
    )


def test_malformed_json_is_a_400_json_error(api):
    response = api.post("/api/v1/feedback", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_body"


def test_batch_stores_valid_items_and_reports_each(api, project):
    events = [
        {"id": "a", "rating": "down"},
        {"id": "b", "rating": "meh"},
        {"id": "a", "rating": "down"},
        {"id": "c", "score": 0.0, "category": "unsafe"},
    ]
    response = post(api, "/api/v1/feedback", {"events": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "duplicate", "created"]
    assert results[1]["errors"] == {"rating": ['"meh" is not a valid choice.']}
    assert set(FeedbackEvent.objects.values_list("client_id", flat=True)) == {"a", "c"}


def test_batch_over_1000_is_refused_naming_events(api):
    response = post(api, "/api/v1/feedback", {"events": [{"rating": "down"}] * 1001})
    assert response.status_code == 400
    assert "events" in response.json()["fields"]


def test_missing_or_wrong_key_is_401_and_wrong_scope_is_403(project):
    anonymous = post(Client(), "/api/v1/feedback", {"rating": "down"})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    wrong = post(Client(headers={"X-Api-Key": "tri_nope"}), "/api/v1/feedback", {"rating": "down"})
    assert wrong.status_code == 401
    reader = Client(headers={"X-Api-Key": api_key_for(project, scopes=["datasets:read"])})
    forbidden = post(reader, "/api/v1/feedback", {"rating": "down"})
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert not FeedbackEvent.objects.exists()


def test_x_api_key_header_works_like_bearer(project):
    client = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    assert post(client, "/api/v1/feedback", {"rating": "up"}).status_code == 201


def test_body_over_the_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(api, "/api/v1/feedback", {"rating": "down", "comment": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_run_is_posted_then_patched(api, project):
    first = {
        "runs": [
            {
                "id": "r1",
                "trace_id": "t1",
                "name": "llm",
                "run_type": "llm",
                "inputs": {"messages": [{"role": "user", "content": "hi"}]},
                "start_time": "2026-11-20T10:00:00Z",
            }
        ]
    }
    assert post(api, "/api/v1/traces", first).status_code == 200
    patch = {
        "runs": [
            {
                "id": "r1",
                "outputs": {"content": "hello"},
                "end_time": "2026-11-20T10:00:01.5Z",
                "prompt_tokens": 5,
                "completion_tokens": 1,
            }
        ]
    }
    assert post(api, "/api/v1/traces", patch).status_code == 200
    run = Run.objects.get(project=project, run_id="r1")
    assert run.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert run.outputs == {"content": "hello"} and run.duration_ms == 1500
    assert (run.run_type, run.prompt_tokens, run.completion_tokens) == ("llm", 5, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "runs"),
        ({"runs": []}, "runs"),
        ({"runs": [{"name": "no id"}]}, "runs[0].id"),
        ({"runs": [{"id": "r", "run_type": "magic"}]}, "runs[0].run_type"),
        ({"runs": [{"id": "r", "start_time": "soon"}]}, "runs[0].start_time"),
        ({"runs": [{"id": "r", "inputs": "text"}]}, "runs[0].inputs"),
    ],
)
def test_bad_traces_get_a_400_naming_the_field(api, body, field):
    response = post(api, "/api/v1/traces", body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [("id", 5), ("name", 12), ("error", False), ("tags", [1]), ("prompt_tokens", "5"),
     ("total_tokens", 7.0), ("reference_example_id", False), ("session_id", 0),
     ("total_cost", True), ("total_cost", "1e3"), ("total_cost", "-")],
)  # fmt: skip
def test_wrongly_typed_run_fields_are_a_400_naming_the_field_not_coerced(api, field, value):
    response = post(api, "/api/v1/traces", {"runs": [{"id": "r", field: value}]})
    assert response.status_code == 400, response.content
    assert [name.split("[0].")[1].split("[")[0] for name in response.json()["fields"]] == [field]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "sent, stored",
    [(0.000123456789, "0.00012346"), (2, "2.00000000"), (" 0.5 ", "0.50000000"), ("", None)],
)
def test_a_run_cost_is_a_number_or_a_decimal_string(api, project, sent, stored):
    response = post(api, "/api/v1/traces", {"runs": [{"id": "r", "total_cost": sent}]})
    assert response.status_code == 200, response.content
    cost = Run.objects.get(project=project, run_id="r").total_cost
    assert (None if cost is None else str(cost)) == stored


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/feedback", '{"rating": "down", "comment": "a\\udc00b"}', "comment"),
        ("/api/v1/feedback", '{"rating": "down", "metadata": {"k\\u0000": 1}}', "metadata"),
        ("/api/v1/traces", '{"runs": [{"id": "r", "inputs": {"q": "\\u0000"}}]}', "runs[0].inputs"),
        (
            "/api/v1/traces",
            '{"runs": [{"id": "r", "prompt_tokens": 9999999999}]}',
            "runs[0].prompt_tokens",
        ),
    ],
)
def test_text_the_database_cannot_store_is_a_400_not_a_500(api, path, body, field):
    response = api.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not FeedbackEvent.objects.exists() and not Run.objects.exists()


def test_a_non_object_item_is_that_items_error_and_the_rest_is_stored(api, project):
    response = post(api, "/api/v1/feedback", {"events": [{"id": "ok", "rating": "down"}, "junk"]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error"]
    assert "non_field_errors" in results[1]["errors"] or "body" in results[1]["errors"]
    assert list(FeedbackEvent.objects.values_list("client_id", flat=True)) == ["ok"]


@pytest.mark.parametrize(
    "field, value",
    [("score", True), ("score", "0.5"), ("id", 5), ("comment", 12), ("user_id", 3.5),
     ("trace_id", ["t"]), ("model_id", {"a": 1}), ("locale", False)],
)  # fmt: skip
def test_wrong_json_types_are_a_400_naming_the_field_not_coerced(api, project, field, value):
    body = {"id": "fb-typed", "trace_id": "t", "rating": "down", field: value}
    response = post(api, "/api/v1/feedback", body)
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [field]
    assert not FeedbackEvent.objects.filter(project=project).exists()


def test_a_batch_reports_wrongly_typed_items_and_stores_the_rest(api, project):
    events = [
        {"id": "ok-1", "trace_id": "t", "rating": "down"},
        {"id": "bad-1", "trace_id": "t", "score": True},
        {"id": 5, "trace_id": "t", "rating": "down"},
    ]
    response = post(api, "/api/v1/feedback", {"events": events})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "error"]
    assert list(results[1]["errors"]) == ["score"] and list(results[2]["errors"]) == ["id"]
    assert list(FeedbackEvent.objects.values_list("client_id", flat=True)) == ["ok-1"]
