"""Batches of COPY_MIN_ROWS or more are written by COPY on PostgreSQL: the rows must be the
ones the INSERT writes, and a batch whose ids are taken already must still be reported
item by item (duplicate / conflict / created) with nothing lost and nothing twice."""

import json

import pytest
from django.db import connection

from feedback import event_rows
from feedback.event_rows import COPY_MIN_ROWS, INSERT_COLUMNS
from feedback.models import FeedbackEvent

pytestmark = pytest.mark.django_db

COMPARED = [name for name in INSERT_COLUMNS if name not in ("client_id", "body_hash")]


def _post(client, body):
    return client.post("/api/v1/feedback", data=json.dumps(body), content_type="application/json")


def _varied(prefix, n=COPY_MIN_ROWS + 5):
    """Every kind of value a row holds, including what text and binary formats escape."""
    events = []
    for i in range(n):
        event = {"id": f"{prefix}-{i}", "rating": ("down", "up")[i % 2]}
        if i % 4 == 0:
            event["comment"] = f'café ☕ "quoted" \\ back\ttab\nline\r{i}'
        if i % 5 == 1:
            event["score"] = (1, 0.25, 0.0)[i % 3]
        # Given, so rows compare (the default is the time of receipt).
        event["created_at"] = ("2026-11-30T09:15:00.123456+05:30", f"2026-11-{i + 1:02}T00:00Z")[
            i % 2
        ]
        if i % 2:
            event["metadata"] = {"n": i, "f": 0.1, "deep": {"l": [1, "two", None, True]}}
        if i == 7:
            event["metadata"] = {"big": 2**70, "neg": -(2**65)}
        event.update(
            user_id=f"user-{i % 4}@example.com",
            trace_id=f"trace-{i}",
            category="billing" if i % 2 else "",
            locale="de-DE",
            intent="refund_request" if i % 6 == 0 else "",
        )
        events.append(event)
    return events


def _rows(prefix):
    rows = FeedbackEvent.objects.filter(client_id__startswith=f"{prefix}-").order_by("id")
    return {row["client_id"].split("-", 1)[1]: row for row in rows.values()}


def _copies(monkeypatch):
    """Count COPYs that wrote their batch (the real ones run)."""
    written = []
    real = event_rows._pg_copy

    def counted(rows):
        ok = real(rows)
        written.append((len(rows), ok))
        return ok

    monkeypatch.setattr(event_rows, "_pg_copy", counted)
    return written


def test_a_batch_written_by_copy_holds_the_rows_single_inserts_write(api, project, monkeypatch):
    written = _copies(monkeypatch)
    batch = _varied("copy")
    response = _post(api, {"events": batch})
    assert response.status_code == 200, response.content
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    for event in _varied("one"):
        assert _post(api, event).status_code == 201
    on_postgresql = connection.vendor == "postgresql"
    assert written == ([(len(batch), True)] if on_postgresql else [])

    by_copy, by_insert = _rows("copy"), _rows("one")
    assert by_copy.keys() == by_insert.keys() and len(by_copy) == len(batch)
    for i, row in by_copy.items():
        expected = {name: by_insert[i][name] for name in COMPARED if name != "received_at"}
        assert {name: row[name] for name in expected} == expected, i
    assert by_copy["0"]["comment"] == 'café ☕ "quoted" \\ back\ttab\nline\r0'
    assert by_copy["7"]["metadata"] == {"big": 2**70, "neg": -(2**65)}
    assert by_copy["2"]["created_at"].isoformat() == "2026-11-30T03:45:00.123456+00:00"
    assert by_copy["3"]["created_at"].isoformat() == "2026-11-04T00:00:00+00:00"
    assert by_copy["1"]["score"] == 0.25 and by_copy["6"]["score"] == 1.0
    assert by_copy["3"]["score"] is None and by_copy["0"]["intent"] == "refund_request"
    assert by_copy["0"]["processed_at"] is None and by_copy["0"]["cluster_id"] is None


def test_a_retried_batch_reports_duplicates_conflicts_and_new_items(api, project, monkeypatch):
    """COPY cannot skip a taken id: the batch falls back to INSERT … ON CONFLICT."""
    written = _copies(monkeypatch)
    first = _varied("retry")
    assert _post(api, {"events": first}).status_code == 200
    changed = {**first[3], "comment": "a different body"}
    again = first[:3] + [changed] + first[4:] + _varied("fresh", 3)
    response = _post(api, {"events": again})

    statuses = [r["status"] for r in response.json()["results"]]
    assert (
        statuses
        == ["duplicate"] * 3 + ["error"] + ["duplicate"] * (len(first) - 4) + ["created"] * 3
    )
    assert response.json()["results"][3]["errors"] == {
        "id": ["This id was already used with a different body."]
    }
    assert FeedbackEvent.objects.filter(project=project).count() == len(first) + 3
    if connection.vendor == "postgresql":
        assert written == [(len(first), True), (len(again), False)]
    # The caller's transaction (the test's) still works after the failed COPY.
    assert FeedbackEvent.objects.get(client_id="retry-3").comment == first[3].get("comment", "")


def test_a_batch_naming_one_id_twice_stores_it_once(api, project, monkeypatch):
    written = _copies(monkeypatch)
    events = _varied("twice")
    events.append(dict(events[0]))
    results = _post(api, {"events": events}).json()["results"]
    assert [r["status"] for r in results] == ["created"] * (len(events) - 1) + ["duplicate"]
    assert FeedbackEvent.objects.filter(client_id="twice-0").count() == 1
    assert written == []  # known before writing: straight to INSERT … ON CONFLICT


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_failed_copy_leaves_nothing_behind(api, project, monkeypatch):
    """Production runs in autocommit: the COPY is its own transaction."""
    written = _copies(monkeypatch)
    first = _varied("auto")
    assert _post(api, {"events": first}).status_code == 200
    results = _post(api, {"events": _varied("new", 2) + first}).json()["results"]
    assert [r["status"] for r in results] == ["created"] * 2 + ["duplicate"] * len(first)
    stored = FeedbackEvent.objects.filter(project=project).values_list("client_id", flat=True)
    assert sorted(stored) == sorted([e["id"] for e in first] + ["new-0", "new-1"])
    if connection.vendor == "postgresql":
        assert written == [(len(first), True), (len(first) + 2, False)]


def test_a_batch_naming_runs_without_traces_is_linked_not_copied(api, project, monkeypatch):
    """Linking needs the inserted ids, which COPY does not return."""
    from feedback.models import Run

    Run.objects.create(project=project, run_id="run-7", trace_id="trace-of-run-7")
    written = _copies(monkeypatch)
    events = _varied("link")
    events[3] = {"id": "link-3", "rating": "down", "run_id": "run-7"}
    results = _post(api, {"events": events}).json()["results"]
    assert {r["status"] for r in results} == {"created"}
    assert FeedbackEvent.objects.get(client_id="link-3").trace_id == "trace-of-run-7"
    assert FeedbackEvent.objects.filter(client_id__startswith="link-").count() == len(events)
    assert written == []


def test_an_invalid_item_in_a_copied_batch_is_reported_and_the_rest_stored(api, project):
    events = _varied("mixed")
    events[5]["rating"] = "sideways"
    events[9]["comment"] = 5
    results = _post(api, {"events": events}).json()["results"]
    errors = {r["index"]: sorted(r["errors"]) for r in results if r["status"] == "error"}
    assert errors == {5: ["rating"], 9: ["comment"]}
    stored = set(FeedbackEvent.objects.values_list("client_id", flat=True))
    assert stored == {e["id"] for e in events} - {"mixed-5", "mixed-9"}
