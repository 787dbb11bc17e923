"""A triage run whose worker died: beat marks it interrupted and a new run carries on."""

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory, ProjectFactory
from tests.support import ROOT, wait_for, worker_env
from triage.job import triage_job_execute
from triage.models import Cluster, TriageRun
from triage.stale_runs import triage_runs_resume_stale

WORDS = ["shoes", "jacket", "laptop", "phone", "lamp", "desk", "watch", "bag"]


def _backlog(project, n):
    """n unprocessed events in a few dozen clusters, written without the ingest hooks."""
    FeedbackEvent.objects.bulk_create(
        FeedbackEvent(
            project=project,
            body_hash=f"{project.pk}-{i}",
            category="billing" if i % 3 else "wrong",
            comment=[
                f"refund for my {WORDS[i % 8]} order {i}",
                f"the {WORDS[i % 8]} page shows a wrong price of {i} dollars",
                f"complaint {i} about {WORDS[i % 8]} {WORDS[(i // 8) % 8]} {i % 13}",
            ][i % 3],
            rating="down",
        )
        for i in range(n)
    )


def _run(project, status, heartbeat_age=None, **fields):
    beat = None if heartbeat_age is None else timezone.now() - timedelta(seconds=heartbeat_age)
    return TriageRun.objects.create(project=project, status=status, heartbeat_at=beat, **fields)


@pytest.mark.django_db
def test_sweep_interrupts_only_runs_whose_heartbeat_stopped_and_resumes_each_once(project):
    stale_after = settings.TRIAGE_RUN_STALE_SECONDS
    dead = _run(project, "running", heartbeat_age=stale_after + 5, done=40, total=100)
    alive = _run(project, "running", heartbeat_age=stale_after - 30)
    finished = _run(project, "done", heartbeat_age=stale_after * 10)
    queued = _run(project, "queued")
    other = ProjectFactory(slug="other")
    legacy = _run(other, "running")  # from before heartbeats: no stamp at all

    resumed = triage_runs_resume_stale()

    statuses = dict(TriageRun.objects.values_list("pk", "status"))
    assert statuses[dead.pk] == statuses[legacy.pk] == "interrupted"
    assert (statuses[alive.pk], statuses[finished.pk], statuses[queued.pk]) == (
        "running",
        "done",
        "queued",
    )
    new = {r.resumed_from_id: r for r in TriageRun.objects.filter(resumed_from__isnull=False)}
    assert sorted(resumed) == sorted([(project.pk, new[dead.pk].pk), (other.pk, new[legacy.pk].pk)])
    assert new[dead.pk].status == "queued" and new[dead.pk].project_id == project.pk
    dead.refresh_from_db()
    assert dead.finished_at is not None and "no heartbeat" in dead.error

    assert triage_runs_resume_stale() == []  # a second sweep finds nothing more
    assert TriageRun.objects.count() == 7


@pytest.mark.django_db
def test_a_redelivered_task_does_nothing_for_a_run_that_is_over_or_alive_elsewhere(project):
    FeedbackEventFactory(project=project, comment="refund for my shoes order 1")
    Cluster.objects.all().delete()
    FeedbackEvent.objects.update(processed_at=None, cluster=None)
    interrupted = _run(project, "interrupted", heartbeat_age=3600)
    alive = _run(project, "running", heartbeat_age=1, phase="cluster")

    assert triage_job_execute(project=project, triage_run_id=interrupted.pk) is None
    assert triage_job_execute(project=project, triage_run_id=alive.pk) is None
    assert TriageRun.objects.get(pk=interrupted.pk).status == "interrupted"
    assert TriageRun.objects.get(pk=alive.pk).phase == "cluster"
    assert not Cluster.objects.exists()

    # Its worker died before the sweep came round: the redelivered task takes the row over.
    TriageRun.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    summary = triage_job_execute(project=project, triage_run_id=alive.pk, scrub=False)
    run = TriageRun.objects.get(pk=alive.pk)
    assert (run.status, summary["events"]) == ("done", 1)
    assert run.heartbeat_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_the_queue_page_shows_an_interrupted_run_as_resumed(client, project, lead):
    dead = _run(project, "running", heartbeat_age=settings.TRIAGE_RUN_STALE_SECONDS + 1)
    [(_, new_pk)] = triage_runs_resume_stale()
    TriageRun.objects.filter(pk=new_pk).update(status="running", phase="cluster", done=1, total=4)
    client.force_login(lead)

    html = client.get(f"/p/{project.slug}/queue/run/progress").content.decode()

    assert f"Triage run {new_pk} (run {dead.pk} interrupted, resumed): running" in html
    assert "1/4 events (25 %)" in html and 'hx-trigger="every 1s"' in html


def test_beat_and_the_embedded_runner_schedule_the_stale_run_sweep(settings):
    from triage.management.commands.periodic import _entries

    entry = settings.CELERY_BEAT_SCHEDULE["triage-resume-stale-runs"]
    assert entry == {"task": "triage.resume_stale_runs", "schedule": 60.0}
    assert _entries()["triage-resume-stale-runs"][0] == "triage.resume_stale_runs"
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 900


def _worker(tmp_path, name, env, *args):
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h", *args],
        cwd=ROOT, env=worker_env() | env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    proc.log = log
    return proc


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.log.close()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_is_interrupted_by_beat_and_resumed_to_exact_counts(tmp_path):
    import redis

    from triage.tasks import run_job

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    reference = ProjectFactory(slug="reference")
    killed = ProjectFactory(slug="killed")
    _backlog(reference, 3000)
    _backlog(killed, 3000)
    triage_job_execute(project=reference, scrub=False)

    # Small batches: many heartbeats and a wide window to kill in.
    first = _worker(tmp_path, "first", {"TRIAGE_JOB_BATCH": "20"}, "-Q", "stale-run-test")
    try:
        run = TriageRun.objects.create(project=killed)
        run_job.apply_async(
            kwargs={"project_id": killed.pk, "triage_run_id": run.pk}, queue="stale-run-test"
        )
        wait_for(
            lambda: TriageRun.objects.get(pk=run.pk).done >= 300, interval=0.01, what="progress"
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first)
    run.refresh_from_db()
    assert run.status == "running" and 300 <= run.done < 3000, (run.status, run.done)

    # A new worker with beat inside it (-B), sweeping every second, a heartbeat 3 s old
    # counting as dead. It never consumes the dead worker's queue: only beat resumes.
    second = _worker(
        tmp_path, "second",
        {"TRIAGE_RUN_STALE_SECONDS": "3", "TRIAGE_RUN_SWEEP_SECONDS": "1"},
        "-B", "-s", str(tmp_path / "beat-schedule"),
    )  # fmt: skip
    try:
        wait_for(
            lambda: TriageRun.objects.filter(resumed_from=run, status="done").exists(),
            timeout=120,
            what="beat to resume the run and the resumed run to finish",
        )
    finally:
        _stop(second)

    run.refresh_from_db()
    assert run.status == "interrupted" and run.finished_at is not None
    resumed = TriageRun.objects.get(resumed_from=run)
    # Carried on after the last committed batch (at most one committed past its progress).
    assert 3000 - run.done - 20 <= resumed.summary["events"] <= 3000 - run.done
    assert not FeedbackEvent.objects.filter(project=killed, processed_at__isnull=True).exists()

    # Every event counted once: cluster counts equal the events they hold, sum to the
    # backlog, and the clustering is the uninterrupted reference's.
    counts = dict(
        FeedbackEvent.objects.filter(project=killed)
        .values("cluster_id")
        .annotate(n=Count("pk"))
        .values_list("cluster_id", "n")
    )
    stored = dict(Cluster.objects.filter(project=killed).values_list("pk", "event_count"))
    assert counts == {pk: n for pk, n in stored.items() if n}
    assert sum(stored.values()) == 3000
    reference_sizes = Cluster.objects.filter(project=reference).aggregate(
        n=Count("pk"), events=Sum("event_count")
    )
    assert {"n": len(stored), "events": 3000} == reference_sizes
    assert sorted(stored.values()) == sorted(
        Cluster.objects.filter(project=reference).values_list("event_count", flat=True)
    )
