"""Feedback and traces link whichever arrives first."""

import json

import pytest

from feedback.models import FeedbackEvent, Run

pytestmark = pytest.mark.django_db


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def runs_body(trace_id):
    return {
        "runs": [
            {"id": "root-1", "trace_id": trace_id, "name": "answer", "run_type": "chain"},
            {"id": "llm-1", "trace_id": trace_id, "parent_run_id": "root-1", "run_type": "llm"},
        ]
    }


def linked_runs(event):
    return set(
        Run.objects.filter(project=event.project, trace_id=event.trace_id).values_list(
            "run_id", flat=True
        )
    )


def test_feedback_before_trace(api, project):
    assert post(api, "/api/v1/feedback", {"trace_id": "t-1", "rating": "down"}).status_code == 201
    event = FeedbackEvent.objects.get()
    assert linked_runs(event) == set()
    assert post(api, "/api/v1/traces", runs_body("t-1")).status_code == 200
    assert linked_runs(event) == {"root-1", "llm-1"}


def test_trace_before_feedback(api, project):
    assert post(api, "/api/v1/traces", runs_body("t-2")).status_code == 200
    assert post(api, "/api/v1/feedback", {"trace_id": "t-2", "rating": "down"}).status_code == 201
    assert linked_runs(FeedbackEvent.objects.get()) == {"root-1", "llm-1"}


def test_feedback_naming_only_a_run_is_linked_in_either_order(api, project):
    post(api, "/api/v1/feedback", {"id": "early", "run_id": "llm-1", "rating": "down"})
    assert FeedbackEvent.objects.get(client_id="early").trace_id == ""
    post(api, "/api/v1/traces", runs_body("t-3"))
    assert FeedbackEvent.objects.get(client_id="early").trace_id == "t-3"  # linked on arrival
    post(api, "/api/v1/feedback", {"id": "late", "run_id": "llm-1", "rating": "down"})
    assert FeedbackEvent.objects.get(client_id="late").trace_id == "t-3"  # resolved at ingest


def test_child_run_without_trace_id_inherits_its_parent_trace(api, project):
    post(api, "/api/v1/traces", {"runs": [{"id": "p", "trace_id": "tt"}]})
    post(api, "/api/v1/traces", {"runs": [{"id": "c", "parent_run_id": "p"}]})
    assert Run.objects.get(run_id="c").trace_id == "tt"
