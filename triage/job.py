"""The triage job: flag bad traces, cluster new feedback, rank, fill the queue, watch drift.

This module is the orchestration (the run row, scoring, the queue, known issues,
drift); clustering is in triage.clustering (batching, LSH, crash safety), auto-flag
detection in triage.auto_flags, shared SQL helpers in triage.sql.
"""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.utils import timezone

from datasets.models import Case
from feedback.models import FeedbackEvent, Run

from . import drift, ranking
from .auto_flags import flags_detect
from .clustering import (
    Clusterer,
    PipelinedWriter,
    cluster_stats_refresh,
    cluster_stats_refresh_since,
    gc_paused,
    index_for,
    pending_rows,
    triage_run_progress,
)
from .models import Cluster, QueueItem, TriageRun
from .proof import fixed_clusters_reopen
from .scrubbing import queue_item_scrub
from .sql import is_pg, job_lock, lock_project, update_rows
from .stale_runs import triage_run_claim

logger = logging.getLogger(__name__)

LIVE_ITEM = (QueueItem.Status.PENDING, QueueItem.Status.CLAIMED, QueueItem.Status.SKIPPED)


def triage_run_queue(*, project, user=None, kind="triage"):
    """A queued run row for the page to poll (the task picks it up)."""
    return TriageRun.objects.create(project=project, kind=kind, requested_by=user)


def triage_run_fail(*, triage_run, reason):
    """A run that could not start (e.g. the broker is down) stops the page's polling."""
    triage_run_progress(
        triage_run, status=TriageRun.Status.FAILED, error=reason, finished_at=timezone.now()
    )


def triage_job_execute(*, project, triage_run_id=None, scrub=True):
    """Flag, cluster the events since the last run, score, fill the queue, scrub.

    The same code runs from the `triage_run` command, the nightly schedule and the lead's
    button.
    Incremental: only events not yet processed, only runs after the last finished run.
    """
    now = timezone.now()
    run = None
    if triage_run_id:
        run = TriageRun.objects.filter(pk=triage_run_id, project=project).first()
        if run is not None and not triage_run_claim(run=run):
            logger.info("triage run %s is over or alive elsewhere: not run twice", run.pk)
            return None
    if run is None:
        run = TriageRun.objects.create(project=project)
    # Runs left "running" by a killed worker are over; this one carries on their work.
    TriageRun.objects.filter(
        project=project, kind="triage", status=TriageRun.Status.RUNNING
    ).exclude(pk=run.pk).update(status=TriageRun.Status.INTERRUPTED, finished_at=now)
    previous = (
        TriageRun.objects.filter(project=project, kind="triage", status=TriageRun.Status.DONE)
        .order_by("-pk")
        .first()
    )
    event_mark = FeedbackEvent.objects.filter(project=project).aggregate(m=Max("pk"))["m"] or 0
    run_mark = Run.objects.filter(project=project).aggregate(m=Max("pk"))["m"] or 0
    triage_run_progress(
        run,
        status=TriageRun.Status.RUNNING,
        started_at=now,
        phase="flags",
        event_watermark=event_mark,
        run_watermark=run_mark,
        error="",
    )
    try:
        summary = _job_phases(project, run, previous, event_mark, run_mark, scrub=scrub)
    except Exception as exc:
        triage_run_progress(run, status=TriageRun.Status.FAILED, error=repr(exc)[:2000])
        raise
    triage_run_progress(
        run,
        status=TriageRun.Status.DONE,
        phase="done",
        summary=summary,
        finished_at=timezone.now(),
    )
    logger.info("triage run for project %s: %s", project.slug, summary)
    return summary


def _job_phases(project, run, previous, event_mark, run_mark, *, scrub):
    timings, started = {}, time.perf_counter()

    def lap(name):
        nonlocal started
        now = time.perf_counter()
        timings[name] = round(now - started, 2)
        started = now

    flagged = flags_detect(
        project_id=project.pk,
        after_run_pk=previous.run_watermark if previous else 0,
        upto_run_pk=run_mark,
    )
    event_mark = FeedbackEvent.objects.filter(project=project).aggregate(m=Max("pk"))["m"] or 0
    TriageRun.objects.filter(pk=run.pk).update(event_watermark=event_mark)
    lap("flags")

    pending = FeedbackEvent.objects.filter(
        project=project, processed_at__isnull=True, pk__lte=event_mark
    )
    total = pending.count()
    triage_run_progress(run, phase="cluster", total=total, done=0)
    clusterer = Clusterer(project.pk)
    after, done, batch = 0, 0, settings.TRIAGE_JOB_BATCH
    # The pipelined writer needs its own connection to see our rows: not inside a caller's
    # transaction (tests wrap each test in one), where the batches run synchronously.
    if is_pg() and not connection.in_atomic_block:
        with job_lock(project.pk), gc_paused():
            index, allowed = index_for(project.pk), clusterer.joinable()
            writer = PipelinedWriter(clusterer, run)
            try:
                while rows := pending_rows(project.pk, after, event_mark, batch):
                    after, done = rows[-1][0], done + len(rows)
                    writer.submit(clusterer.plan(rows, index, allowed), done)
            finally:
                writer.close()
    else:
        while True:
            with transaction.atomic():
                lock_project(project.pk)
                rows = pending_rows(project.pk, after, event_mark, batch)
                if not rows:
                    break
                clusterer.process(rows)
            after, done = rows[-1][0], done + len(rows)
            triage_run_progress(run, done=done)

    lap("cluster")
    # Stats for every cluster with events since the last finished run: covers batches a
    # killed run committed but never summarized.
    triage_run_progress(run, phase="stats")
    since = previous.event_watermark if previous else 0
    if is_pg():
        if done > 10000:
            # The planner still thinks every cluster_id is NULL after a big load; fresh
            # statistics keep the stats query on hash joins (seconds, not minutes).
            with connection.cursor() as cur:
                cur.execute(f"ANALYZE {FeedbackEvent._meta.db_table}")
        cluster_stats_refresh_since(project.pk, since)
    else:
        touched = (
            FeedbackEvent.objects.filter(project=project, pk__gt=since, cluster__isnull=False)
            .values_list("cluster_id", flat=True)
            .distinct()
            .order_by()
        )
        cluster_stats_refresh(cluster_ids=list(touched))
    lap("stats")

    triage_run_progress(run, phase="rank")
    requeued = known_issues_check(project=project) + fixed_clusters_reopen(project=project)
    scored = clusters_score(project=project)
    lap("rank")
    queued = queue_fill(project=project)
    lap("queue")
    scrubbed, scrub_failed = 0, []
    if scrub:
        triage_run_progress(run, phase="scrub")
        scrubbed, scrub_failed = queue_scrub_stale(project=project, run=run)
        lap("scrub")
    return {
        # Feedback received since the last finished run, however it got clustered (most is
        # clustered on ingest); `events` is what this run clustered itself.
        "new_events": FeedbackEvent.objects.filter(
            project=project, pk__gt=since, pk__lte=event_mark
        ).count(),
        "clusters": scored,
        "queued": queued,
        "requeued": requeued,
        "scrubbed": scrubbed,
        # Items whose scrub failed: skipped (the reviewer's view stays as it was, the next
        # run retries), each noted on its row and shown to leads on the queue page.
        "scrub_failed": len(scrub_failed),
        "scrub_failed_items": scrub_failed[:100],
        "events": done,
        "flagged": flagged,
        "seconds": timings,
    }


def known_issues_check(*, project):
    """Known issues count new evidence quietly; a jump in their rate puts them back."""
    now = timezone.now()
    window = timedelta(hours=settings.TRIAGE_REGRESSION_WINDOW_HOURS)
    known = Cluster.objects.filter(
        project=project, kind=Cluster.Kind.ISSUE, status=Cluster.Status.KNOWN_ISSUE
    )
    for cluster in known.filter(known_issue_since__isnull=True):
        # Baseline: the week before it was marked, per window.
        week = FeedbackEvent.objects.filter(
            cluster=cluster, created_at__gte=now - timedelta(days=7), created_at__lt=now
        ).count()
        Cluster.objects.filter(pk=cluster.pk).update(
            known_issue_since=now, baseline_per_window=week * window / timedelta(days=7)
        )
    requeued = 0
    for cluster in known.filter(known_issue_since__isnull=False):
        recent = FeedbackEvent.objects.filter(
            cluster=cluster, created_at__gte=max(now - window, cluster.known_issue_since)
        ).count()
        reason = ranking.regression_check(
            recent=recent,
            baseline_per_window=cluster.baseline_per_window or 0.0,
            factor=settings.TRIAGE_REGRESSION_FACTOR,
            min_reports=settings.TRIAGE_REGRESSION_MIN_REPORTS,
        )
        if not reason:
            continue
        with transaction.atomic():
            changed = Cluster.objects.filter(
                pk=cluster.pk, status=Cluster.Status.KNOWN_ISSUE
            ).update(
                status=Cluster.Status.OPEN,
                queue_reason=reason[:200],
                known_issue_since=None,
                baseline_per_window=None,
            )
            if not changed:
                continue
            # Back to the queue with fresh evidence; the old label stays in notes/version.
            updated = QueueItem.objects.filter(cluster=cluster).update(
                status=QueueItem.Status.PENDING,
                decision="",
                claimed_by=None,
                lease_expires_at=None,
                scrubbed_event_count=0,
                version=F("version") + 1,
            )
            if not updated:
                QueueItem.objects.create(project=project, cluster=cluster)
        requeued += 1
    return requeued


def clusters_score(*, project):
    """Re-score every open cluster; the breakdown is stored for the queue to show."""
    now = timezone.now()
    rows = (
        Cluster.objects.filter(project=project, kind=Cluster.Kind.ISSUE, status=Cluster.Status.OPEN)
        .order_by("pk")
        .values_list(
            "pk",
            "event_count",
            "top_tier",
            "category",
            "first_seen_at",
            "last_seen_at",
            "queue_reason",
        )
    )
    p0 = set(settings.TRIAGE_P0_CATEGORIES)
    out, n = [], 0
    for pk, count, tier, category, first, last, reason in rows.iterator(chunk_size=5000):
        score, breakdown = ranking.cluster_score(
            reports=count,
            tier=tier,
            is_p0=category in p0,
            tier_weights=settings.TRIAGE_TIER_WEIGHTS,
            severity_weights=settings.TRIAGE_SEVERITY_WEIGHTS,
            hours_since_last=(now - last).total_seconds() / 3600 if last else 0.0,
            hours_since_first=(now - first).total_seconds() / 3600 if first else 0.0,
            half_life_hours=settings.TRIAGE_RECENCY_HALF_LIFE_HOURS,
            recency_floor=settings.TRIAGE_RECENCY_FLOOR,
            sla_hours=settings.TRIAGE_P0_SLA_HOURS,
            sla_weight=settings.TRIAGE_SLA_WEIGHT,
        )
        if reason:
            breakdown["reason"] = reason
        out.append((pk, score, breakdown))
        n += 1
        if len(out) >= 10000:
            _scores_write(project.pk, out)
            out = []
    _scores_write(project.pk, out)
    return n


def _scores_write(project_id, rows):
    if not rows:
        return
    if is_pg():
        with transaction.atomic():
            # Per-ingest workers lock the clusters they count in id order, under the shared
            # project lock; this UPDATE's join visits rows in whatever order the plan picks,
            # so without the lock the two could each hold a row the other waits for.
            lock_project(project_id)
            update_rows(
                Cluster._meta.db_table,
                ["id", "score", "score_breakdown"],
                ["bigint", "float8", "jsonb"],
                [(pk, score, json.dumps(b)) for pk, score, b in rows],
            )
        return
    clusters = [Cluster(pk=pk, score=score, score_breakdown=b) for pk, score, b in rows]
    Cluster.objects.bulk_update(clusters, ["score", "score_breakdown"], batch_size=500)


def queue_fill(*, project):
    """Queue the best new clusters up to today's capacity; re-score the live items."""
    now = timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = QueueItem.objects.filter(
        project=project, created_at__gte=day_start, cluster__kind=Cluster.Kind.ISSUE
    ).count()
    room = max(settings.TRIAGE_DAILY_CAPACITY - used, 0)
    newcomers = list(
        Cluster.objects.filter(
            project=project,
            kind=Cluster.Kind.ISSUE,
            status=Cluster.Status.OPEN,
            event_count__gt=0,
            queue_item__isnull=True,
        )
        .order_by("-score", "pk")
        .values_list("pk", "score")[:room]
    )
    created = QueueItem.objects.bulk_create(
        [QueueItem(project=project, cluster_id=pk, score=score) for pk, score in newcomers],
        ignore_conflicts=True,
    )
    QueueItem.objects.filter(
        project=project, status__in=LIVE_ITEM, cluster__kind=Cluster.Kind.ISSUE
    ).update(score=Subquery(Cluster.objects.filter(pk=OuterRef("cluster_id")).values("score")[:1]))
    return len(created)


def queue_scrub_stale(*, project, run=None):
    """Rebuild the reviewer's scrubbed view where the cluster gained evidence.

    One item's bad data fails that item alone: it is logged, noted on its row and
    returned in the failed ids; every other item is still scrubbed. → (scrubbed, failed)
    """
    scrubbed, failed = 0, []
    for item in QueueItem.objects.filter(project=project, status__in=LIVE_ITEM).select_related(
        "cluster"
    ):
        if item.scrubbed_event_count == item.cluster.event_count:
            continue
        try:
            with transaction.atomic():
                queue_item_scrub(item=item)
        except Exception as exc:  # whatever it was, it must not stop the job
            logger.exception("scrubbing queue item %s failed", item.pk)
            # The exception's text may quote trace content: only its type goes on the page.
            problem = f"Scrubbing failed ({type(exc).__name__}); the worker log has details."
            QueueItem.objects.filter(pk=item.pk).update(scrub_problem=problem)
            failed.append(item.pk)
        else:
            scrubbed += 1
            triage_run_progress(run)  # heartbeat: many items scrub for minutes
    return scrubbed, failed


# --- drift ------------------------------------------------------------------------------------


def drift_check(*, project):
    """Queue live samples of clusters big in production but rare in the golden sets.

    Idempotent: samples are drawn deterministically and a cluster is topped up to the
    sample size, never past it.
    """
    now = timezone.now()
    since = now - timedelta(days=settings.TRIAGE_DRIFT_WINDOW_DAYS)
    counts = dict(
        FeedbackEvent.objects.filter(
            project=project, created_at__gte=since, cluster__kind=Cluster.Kind.ISSUE
        )
        .values("cluster_id")
        .annotate(n=Count("pk"))
        .values_list("cluster_id", "n")
        .order_by()
    )
    info = Cluster.objects.filter(pk__in=list(counts)).values_list(
        "pk", "category", "queue_item__failure_mode"
    )
    p0 = set(settings.TRIAGE_P0_CATEGORIES)
    clusters = [
        (pk, counts[pk], drift.cluster_tags(category=c, is_p0=c in p0, failure_mode=fm or ""))
        for pk, c, fm in info
    ]
    case_tags = list(
        Case.objects.filter(golden_set__project=project).values_list("tags", flat=True)
    )
    found = drift.drifting(
        clusters,
        case_tags,
        traffic_min=settings.TRIAGE_DRIFT_TRAFFIC_MIN,
        eval_max=settings.TRIAGE_DRIFT_EVAL_MAX,
    )
    queued = 0
    for cluster_id, traffic, covered in found:
        queued += _drift_sample(project, cluster_id, traffic, covered)
    return {"drifting": len(found), "queued": queued}


def _drift_sample(project, cluster_id, traffic, covered):
    parent = Cluster.objects.get(pk=cluster_id)
    have = parent.samples.count()
    want = settings.TRIAGE_DRIFT_SAMPLE_SIZE - have
    if want <= 0:
        return 0
    ids = list(FeedbackEvent.objects.filter(cluster=parent).values_list("pk", flat=True))
    picked = drift.sample_ids(ids, want, seed=cluster_id)
    reason = f"drift: {traffic:.1%} of traffic, {covered:.1%} of eval cases"
    with transaction.atomic():
        lock_project(project.pk)
        for event_id in picked:
            sample, created = Cluster.objects.get_or_create(
                project=project,
                fingerprint=f"drift:{parent.pk}:{event_id}",
                defaults={
                    "kind": Cluster.Kind.DRIFT_SAMPLE,
                    "parent": parent,
                    "category": parent.category,
                    "queue_reason": reason,
                    "score": parent.score,
                    "score_breakdown": parent.score_breakdown | {"reason": reason},
                },
            )
            FeedbackEvent.objects.filter(pk=event_id).update(cluster=sample)
            QueueItem.objects.get_or_create(
                cluster=sample, defaults={"project": project, "score": parent.score}
            )
        cluster_stats_refresh(cluster_ids=[parent.pk, *parent.samples.values_list("pk", flat=True)])
    return len(picked)
