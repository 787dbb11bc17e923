"""A trace nested hundreds of levels deep (stored before the nesting cap existed) must not
stop the triage job: the scrubber walks without recursion and cuts the reviewer's view at
the cap, and an item that fails anyway fails alone, recorded on its row, on the run
summary and on the queue page leads read."""

import json

import pytest
from django.db import connection
from django.test import Client, override_settings

from accounts.jsonbody import value_depth
from feedback.models import Run
from tests.factories import FeedbackEventFactory, RunFactory
from triage.job import triage_job_execute
from triage.models import QueueItem, TriageRun
from triage.pii.placeholders import CUT_MARKER

pytestmark = pytest.mark.django_db


def deep_value(depth, leaf):
    value = leaf
    for _ in range(depth):
        value = {"a": value}  # built without recursion; json.dumps (C) stores it
    return value


def _complaint(project, trace_id, comment, category):
    RunFactory(project=project, run_id=trace_id, inputs={"question": comment})
    return FeedbackEventFactory(
        project=project, trace_id=trace_id, comment=comment, category=category
    )


def _item_for(event):
    event.refresh_from_db()
    return QueueItem.objects.get(cluster_id=event.cluster_id)


def _lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def test_a_600_deep_trace_is_scrubbed_cut_at_the_cap_and_the_job_finishes(project, lead):
    fine = _complaint(project, "tr-fine", "the refund never arrived", "billing")
    deep = FeedbackEventFactory(
        project=project, trace_id="tr-deep", comment="the bot crashed on my form", category="wrong"
    )
    RunFactory(
        project=project,
        run_id="tr-deep",
        inputs=deep_value(600, "call Maria Gonzalez at maria@example.com"),
    )

    summary = triage_job_execute(project=project)

    run = TriageRun.objects.filter(project=project).latest("pk")
    assert run.status == "done", run.error
    assert summary["scrubbed"] == 2 and summary["scrub_failed"] == 0
    fine_item, deep_item = _item_for(fine), _item_for(deep)
    assert fine_item.scrub_problem == ""
    assert fine_item.scrubbed["traces"][0]["runs"][0]["inputs"]["question"] == (
        "the refund never arrived"
    )
    (deep_run,) = deep_item.scrubbed["traces"][0]["runs"]
    assert value_depth(deep_run["inputs"]) == 64
    assert CUT_MARKER in json.dumps(deep_run["inputs"])
    assert "maria@example.com" not in json.dumps(deep_item.scrubbed)
    assert deep_item.scrub_problem == "Nested deeper than 64 levels, cut: run tr-deep inputs"
    client = _lead_client(lead)
    page = client.get(f"/p/{project.slug}/items/{deep_item.pk}/")
    assert page.status_code == 200
    assert CUT_MARKER in page.content.decode()
    queue = client.get(f"/p/{project.slug}/queue/").content.decode()
    assert "Nested deeper than 64 levels, cut: run tr-deep inputs" in queue


def _store_unreadable_inputs(run, depth):
    """Model a row no Python JSON reader can load (past the recursion limit)."""
    text = '{"a": ' * depth + '"x"' + "}" * depth
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {Run._meta.db_table} SET inputs = %s{cast} WHERE id = %s", [text, run.pk]
        )


@override_settings(TRIAGE_AUTO_FLAGS={})  # auto-flags read every new run; this is the scrubber
def test_an_item_that_cannot_be_scrubbed_fails_alone_recorded_and_shown_to_leads(project, lead):
    fine = _complaint(project, "tr-fine", "the refund never arrived", "billing")
    bad = _complaint(project, "tr-bad", "the bot crashed on my form", "wrong")
    also_fine = _complaint(project, "tr-ok", "it answered in French", "unhelpful")
    # A tool step of the bad trace holds the unreadable JSON (clustering reads root runs).
    RunFactory(project=project, run_id="tool-bad", trace_id="tr-bad", parent_run_id="tr-bad")
    # 995: under SQLite's JSON depth limit (1000), past what Python's reader can load.
    _store_unreadable_inputs(Run.objects.get(run_id="tool-bad"), 995)

    summary = triage_job_execute(project=project)

    run = TriageRun.objects.filter(project=project).latest("pk")
    assert run.status == "done", run.error
    bad_item = _item_for(bad)
    assert summary["scrubbed"] == 2
    assert summary["scrub_failed"] == 1 and summary["scrub_failed_items"] == [bad_item.pk]
    assert run.summary["scrub_failed_items"] == [bad_item.pk]
    for event in (fine, also_fine):
        item = _item_for(event)
        assert item.scrub_problem == "" and item.scrubbed_event_count == 1
        assert item.scrubbed["comments"][0]["text"] == event.comment
    assert bad_item.scrubbed == {} and bad_item.scrubbed_event_count == 0  # retried next run
    assert bad_item.scrub_problem == (
        "Scrubbing failed (RecursionError); the worker log has details."
    )
    client = _lead_client(lead)
    progress = client.get(f"/p/{project.slug}/queue/run/progress").content.decode()
    assert "1 item failed to scrub (skipped, retried next run)" in progress
    queue = client.get(f"/p/{project.slug}/queue/").content.decode()
    assert "Scrubbing failed (RecursionError)" in queue

    # The next run tries it again, and still finishes.
    again = triage_job_execute(project=project)
    assert again["scrub_failed_items"] == [bad_item.pk] and again["scrubbed"] == 0
