"""Per-ingest processing (triage.processing): batched across tasks, exact, scales out."""

import os
import random
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from feedback.models import FeedbackEvent
from tests.factories import ClusterFactory, FeedbackEventFactory, ProjectFactory, RunFactory
from tests.support import ROOT, wait_for, worker_env
from triage.job import triage_job_execute
from triage.models import Cluster, ClusterFacet
from triage.processing import feedback_process

ISSUES = [
    ("billing", "I was charged twice for order {n}, refund please"),
    ("billing", "refund for my shoes order {n} never arrived"),
    ("unsafe", "the bot told me to put glue on pizza {n}"),
    ("unsafe", "it gave me medical dosage advice for {n} mg"),
    ("wrong", "the map shows the wrong city for zip {n}"),
    ("wrong", "invented a fake citation about volume {n}"),
    ("slow", "answer took {n} seconds to arrive"),
]
NOW = timezone.now()  # one clock for every corpus, so two projects' times compare


def _corpus(project, seed=5, n=140):
    """A fixed corpus: repeated issues with varying numbers, tiers, models, prompts and
    times, some praise (not clustered), some with a root run's input. message_id tags each
    event's position so two projects' clusterings can be compared."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        category, template = ISSUES[rng.randrange(len(ISSUES))]
        trace_id = f"t{project.pk}-{i}"
        if i % 9 == 0:
            RunFactory(project=project, trace_id=trace_id, inputs={"question": "where is it?"})
        events.append(
            FeedbackEventFactory(
                project=project,
                message_id=f"m{i}",
                trace_id=trace_id,
                category=category,
                comment=template.format(n=rng.randrange(10, 99999)),
                rating="up" if i % 11 == 0 else "down",
                customer_tier=rng.choice(["free", "pro", "enterprise", ""]),
                model_id=rng.choice(["gpt-4o", "claude-3", ""]),
                prompt_hash=rng.choice(["ph-a", "ph-b", ""]),
                created_at=NOW - timedelta(minutes=rng.randrange(10000)),
            )
        )
    return events


def _clusters(project):
    """Each cluster as its events' positions → its stored count, times, tier and facets."""
    members = {}
    for cid, mid in FeedbackEvent.objects.filter(
        project=project, cluster__isnull=False
    ).values_list("cluster_id", "message_id"):
        members.setdefault(cid, []).append(mid)
    facets = {}
    for cid, kind, value in ClusterFacet.objects.filter(project=project).values_list(
        "cluster_id", "kind", "value"
    ):
        facets.setdefault(cid, set()).add((kind, value))
    return {
        tuple(sorted(members.get(c.pk, []))): (
            c.event_count,
            c.first_seen_at,
            c.last_seen_at,
            c.top_tier,
            facets.get(c.pk, set()),
        )
        for c in Cluster.objects.filter(project=project)
    }


@pytest.mark.django_db
def test_batched_processing_gives_the_rows_of_the_batch_recount(settings):
    settings.TRIAGE_PROCESS_BATCH = 25  # several claims per task, and tasks that find less
    reference, batched = ProjectFactory(slug="reference"), ProjectFactory(slug="batched")
    _corpus(reference)
    events = _corpus(batched)

    # Reference: the job clusters in id order and recounts every cluster from its events.
    triage_job_execute(project=reference, scrub=False)
    # Per ingest: tasks of a few ids each, every one processing whatever is pending.
    reported = 0
    for start in range(0, len(events), 7):
        result = feedback_process(event_ids=[e.pk for e in events[start : start + 7]])
        reported += result["events"]

    assert reported == len(events)  # the first task took everything; none twice
    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()
    expected = _clusters(reference)
    assert len(expected) >= len(ISSUES)  # real clusters, not one for all
    assert _clusters(batched) == expected
    # Praise is processed but never clustered.
    assert FeedbackEvent.objects.filter(project=batched, rating="up", cluster__isnull=True).count()


@pytest.mark.django_db
def test_a_task_processes_events_other_tasks_left_pending(project):
    left = _corpus(project, n=30)
    result = feedback_process(event_ids=[left[-1].pk])
    assert result["events"] == 30 and result["unfinished_projects"] == []
    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()
    assert feedback_process(event_ids=[e.pk for e in left]) == {
        "events": 0,
        "clusters": 0,
        "unfinished_projects": [],
    }


@pytest.mark.django_db
def test_a_task_out_of_time_hands_its_projects_on(project, settings):
    settings.TRIAGE_PROCESS_BATCH = 10
    settings.TRIAGE_PROCESS_BUDGET_SECONDS = 0
    events = _corpus(project, n=35)
    result = feedback_process(event_ids=[events[0].pk])
    assert result["events"] == 10 and result["unfinished_projects"] == [project.pk]
    assert feedback_process(project_ids=[project.pk])["events"] == 10
    assert FeedbackEvent.objects.filter(processed_at__isnull=True).count() == 15


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans commit apart on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_batch_that_dies_after_its_plan_committed_is_redone_into_the_same_clusters(
    settings, monkeypatch
):
    """The plan (new clusters, fingerprints) commits on the planning connection before its
    batch marks and counts the events: a batch dying in between leaves clusters at zero and
    its events pending, and the rerun puts them in exactly those clusters."""
    from triage import processing

    settings.TRIAGE_PROCESS_BATCH = 25
    reference, crashed = ProjectFactory(slug="reference"), ProjectFactory(slug="crashed")
    _corpus(reference)
    events = _corpus(crashed)
    triage_job_execute(project=reference, scrub=False)

    def killed(assign):
        raise RuntimeError("worker killed")

    try:
        with monkeypatch.context() as patch:
            patch.setattr(processing, "_events_assign_returning", killed)
            with pytest.raises(RuntimeError, match="worker killed"):
                feedback_process(project_ids=[crashed.pk])
        waiting = Cluster.objects.filter(project=crashed)
        assert waiting.exists() and set(waiting.values_list("event_count", flat=True)) == {0}
        assert not FeedbackEvent.objects.filter(project=crashed, processed_at__isnull=False)

        assert feedback_process(project_ids=[crashed.pk])["events"] == len(events)
    finally:
        processing.planner.close()  # its connection, before the test database is dropped
    assert _clusters(crashed) == _clusters(reference)
    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()


def _worker(log, name, **env):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", f"{name}@%h"],
        cwd=ROOT, env={**worker_env(), **env}, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_a_backlog_and_process_each_event_once(project, tmp_path):
    import redis

    from config.celery import app
    from triage.tasks import process_feedback

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    events = []
    for _ in range(6):
        events += _corpus(project, seed=len(events))
    ids = [e.pk for e in events]
    # Small batches: the two workers' claims interleave many times.
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [
        _worker(log, f"proc{n}-{os.getpid()}", TRIAGE_PROCESS_BATCH="20")
        for n, log in enumerate(logs)
    ]
    try:
        wait_for(lambda: len(app.control.ping(timeout=0.5)) >= 2, timeout=120, what="2 workers")
        results = [
            process_feedback.apply_async(kwargs={"event_ids": ids[i : i + 10]})
            for i in range(0, len(ids), 10)
        ]
        reported = sum(r.get(timeout=120)["events"] for r in results)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)

    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()
    assert reported == len(events)  # every event processed exactly once
    reported_line = re.compile(r"succeeded in [\d.e-]+s: \{'events': (\d+)")
    per_worker = [sum(int(n) for n in reported_line.findall(log.read_text())) for log in logs]
    assert sum(per_worker) == len(events) and min(per_worker) > 0  # both did a share
    # Counts grown batch by batch equal a recount from the events.
    for cluster in Cluster.objects.filter(project=project):
        assert cluster.event_count == cluster.events.count()
    clustered = FeedbackEvent.objects.filter(project=project, cluster__isnull=False).count()
    assert sum(Cluster.objects.values_list("event_count", flat=True)) == clustered
    # One cluster per exact text: no fingerprint got two clusters from racing workers.
    assert Cluster.objects.values("fingerprint").distinct().count() == Cluster.objects.count()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_the_jobs_scoring_waits_for_a_per_ingest_batch_instead_of_taking_its_clusters(project):
    """A per-ingest batch locks its clusters in id order under the shared project lock; the
    job's score UPDATE visits rows in plan order. If the job took some of those rows while
    the batch held another, each would wait for the other (a deadlock)."""
    import threading

    from triage.job import clusters_score
    from triage.sql import lock_project_shared

    ids = [ClusterFactory(project=project, event_count=n).pk for n in range(1, 21)]
    errors = []

    def score():
        try:
            clusters_score(project=project)
        except Exception as exc:  # e.g. chosen as the deadlock's victim
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    scoring = threading.Thread(target=score)
    with transaction.atomic(), connection.cursor() as cur:
        # The batch in flight: shared project lock, one of its clusters already locked (the
        # one the job's UPDATE reaches last here; in production the plan picks the order).
        lock_project_shared(project.pk)
        cur.execute("SELECT id FROM triage_cluster WHERE id = %s FOR UPDATE", [max(ids)])
        scoring.start()
        wait_for(lambda: _waiting_on_a_lock(cur), timeout=30, what="the job to wait")
        # The batch goes on to lock the rest of its clusters, as clusters_add does.
        cur.execute("SET LOCAL lock_timeout = '3s'")
        cur.execute(
            "SELECT id FROM triage_cluster WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
        )
        assert len(cur.fetchall()) == len(ids)
    scoring.join(timeout=30)

    assert not scoring.is_alive() and errors == []
    assert Cluster.objects.filter(project=project, score__gt=0).count() == len(ids)


def _waiting_on_a_lock(cur):
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return cur.fetchone()[0] > 0
