"""The operator commands API.md promises: create_api_key and triage_run."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory
from triage import processing
from triage.models import Cluster, QueueItem, TriageRun

pytestmark = pytest.mark.django_db


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_key_prints_a_working_key_once_and_stores_only_its_hash(project):
    raw, note = _run("create_api_key", "--project", project.slug, "--scopes", "datasets:read")
    assert raw.startswith("tri_") and "not shown again" in note
    key = ApiKey.objects.get(project=project)
    assert key.scopes == ["datasets:read"] and raw not in key.key_hash and len(key.key_hash) == 64

    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/v1/golden-sets").status_code == 200
    refused = client.post("/api/v1/feedback", json.dumps({"rating": "down"}), "application/json")
    assert refused.status_code == 403  # right key, wrong scope


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--scopes", "ingest"], "No project 'nope'"),
        (["--project", "acme", "--scopes", "ingest,write"], "Unknown scopes ['write']"),
    ],
)
def test_create_api_key_refuses_unknown_projects_and_scopes(project, args, message):
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _run("create_api_key", *args)
    assert not ApiKey.objects.exists()


def test_triage_run_queues_the_projects_new_feedback(project):
    for _ in range(2):
        FeedbackEventFactory(
            project=project, category="unsafe", comment="told me to share a password"
        )
    out, _ = _run("triage_run", "--project", project.slug, "--no-scrub")
    assert out.startswith(f"{project.slug}: 2 new events since the last run (2 clustered now)")
    assert "1 newly queued" in out
    item = QueueItem.objects.get(project=project)
    assert item.cluster.event_count == 2 and item.cluster.category == "unsafe"

    again, _ = _run("triage_run", "--project", project.slug, "--no-scrub")
    assert "0 new events since the last run" in again and "0 newly queued" in again
    assert QueueItem.objects.filter(project=project).count() == 1


def test_triage_run_counts_feedback_already_clustered_on_ingest_as_new(project):
    event = FeedbackEventFactory(project=project, category="unsafe", comment="shared my pin")
    processing.feedback_process(event_ids=[event.pk])  # what ingest does on commit
    out, _ = _run("triage_run", "--project", project.slug, "--no-scrub")
    assert out.startswith(f"{project.slug}: 1 new event since the last run (0 clustered now)")
    run = TriageRun.objects.get(project=project)
    assert run.summary_text.startswith("1 new event since the last run")


def test_triage_run_refuses_an_unknown_project(db):
    with pytest.raises(CommandError, match="No project 'ghost'"):
        _run("triage_run", "--project", "ghost")


# --- periodic: the embedded shape's scheduler (celery beat's job, in-process) ---


@pytest.fixture
def in_process_tasks():
    """Tasks the schedule fans out (run_all_projects → run_job) run here, in both shapes."""
    from config.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    yield app
    app.conf.task_always_eager = eager


def _expired_claim(project, user):
    cluster = Cluster.objects.create(project=project, fingerprint="fp-lease", category="wrong")
    return QueueItem.objects.create(
        project=project,
        cluster=cluster,
        status=QueueItem.Status.CLAIMED,
        claimed_by=user,
        lease_expires_at=timezone.now() - timedelta(minutes=1),
    )


def test_periodic_once_runs_every_scheduled_task_in_process(project, reviewer, in_process_tasks):
    stale = _expired_claim(project, reviewer)
    lost = FeedbackEventFactory(project=project, category="billing", comment="charged twice")
    FeedbackEvent.objects.filter(pk=lost.pk).update(received_at=timezone.now() - timedelta(hours=1))

    out, _ = _run("periodic", "--once")

    assert "queue-expire-leases: 1" in out.splitlines()
    stale.refresh_from_db()
    assert (stale.status, stale.claimed_by_id, stale.lease_expires_at) == ("pending", None, None)
    lost.refresh_from_db()
    assert lost.processed_at is not None and lost.cluster.event_count == 1
    # The nightly job ran too: the swept complaint is in the queue.
    assert QueueItem.objects.filter(cluster=lost.cluster, status="pending").exists()
    assert TriageRun.objects.filter(project=project, kind="triage", status="done").count() == 1
    # …and the weekly traffic-drift check, which keeps its report as a run of its own kind.
    assert TriageRun.objects.filter(project=project, kind="traffic_drift").count() == 1


def test_periodic_loop_runs_each_task_when_its_schedule_comes_round(
    project, reviewer, in_process_tasks, monkeypatch
):
    """A fake clock (time is outside our world): 61 s in, the lease expiry has run once."""
    from triage.management.commands import periodic

    clock = {"now": timezone.now()}
    monkeypatch.setattr(in_process_tasks, "now", lambda: clock["now"])
    stale = _expired_claim(project, reviewer)
    seen = []

    def sleep(seconds):
        stale.refresh_from_db()
        seen.append((round((clock["now"] - start).total_seconds()), stale.status))
        if clock["now"] - start > timedelta(seconds=61):
            raise KeyboardInterrupt
        clock["now"] += timedelta(seconds=seconds)

    start = clock["now"]
    monkeypatch.setattr(periodic.time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        _run("periodic", "--max-sleep", "30")

    # Claimed until the 60 s lease-expiry interval came round, pending after; the nightly
    # crontab entry was not due, so no triage run happened.
    assert seen[0] == (0, "claimed") and seen[-1][1] == "pending"
    assert [t for t, status in seen if status == "claimed"][-1] < 60 <= seen[-1][0]
    assert not TriageRun.objects.exists()
