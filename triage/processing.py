"""Per-ingest processing: committed feedback is clustered and counted within moments.

The cost used to be per task (a task per request, each loading the project's clusters and
recounting every cluster it touched from all of its events), so processing ran at ~100
events/s however fast ingest was. Now a task processes every pending event of its
projects, in batches of TRIAGE_PROCESS_BATCH: at low traffic a batch is one request's
events, under load it is whatever piled up meanwhile, and the later tasks find nothing left
to do. Cluster counts grow by what a batch adds instead of being recounted.

Scale-out (PostgreSQL): each batch is one transaction that takes the project lock shared,
claims its rows with `FOR UPDATE SKIP LOCKED` (two workers never claim the same event),
keys and sketches them (the CPU work, in parallel across workers), then waits for the
project's planning lock to match, write and count (one worker at a time, so each sees the
clusters the others made). The job and other whole-project writers take the project lock
exclusively and so never meet a claimed row. An event is marked processed in the same
transaction that adds it to its cluster's count: a killed worker's batch rolls back whole.
"""

import time
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from feedback.models import FeedbackEvent

from . import ranking
from .clustering import (
    _EVENT_FIELDS,
    Clusterer,
    cluster_stats_refresh,
    index_for,
    root_inputs,
    rows_fetch,
)
from .facets import FACET_COLUMNS
from .models import Cluster, ClusterFacet
from .sql import is_pg, lock_project_planning, lock_project_shared, no_sync_commit


def feedback_process(*, event_ids=(), project_ids=()):
    """Process the pending events of the projects these events (or these ids) belong to.

    Returns {"events": processed here, "clusters": touched, "unfinished_projects": [ids]}:
    projects still holding pending events when the time budget ran out (the task then
    queues itself again for them, so one task never runs for long). Idempotent.
    """
    projects = set(project_ids)
    if event_ids:
        # By primary key only: with `processed_at IS NULL` added the planner may walk the
        # whole backlog on the partial index (a quarter second at 100 k), once per task.
        projects |= set(
            FeedbackEvent.objects.filter(pk__in=list(event_ids))
            .values_list("project_id", flat=True)
            .distinct()
            .order_by()
        )
    deadline = time.monotonic() + settings.TRIAGE_PROCESS_BUDGET_SECONDS
    events, touched, unfinished = 0, set(), []
    for project_id in sorted(projects):
        clusterer = Clusterer(project_id)
        while True:
            n, clusters = pending_batch_process(clusterer)
            events += n
            touched |= clusters
            if n < settings.TRIAGE_PROCESS_BATCH:
                break  # nothing left that another worker has not claimed
            if time.monotonic() > deadline:
                unfinished.append(project_id)
                break
    return {"events": events, "clusters": len(touched), "unfinished_projects": unfinished}


def pending_batch_process(clusterer):
    """Claim, cluster and count one batch of the project's pending events (oldest first).

    Returns (events processed, cluster ids touched).
    """
    project_id = clusterer.project_id
    with transaction.atomic():
        no_sync_commit()
        lock_project_shared(project_id)
        rows = _pending_claim(project_id, settings.TRIAGE_PROCESS_BATCH)
        if not rows:
            return 0, set()
        keyed = clusterer.key_rows(rows)
        sig_of = clusterer.sketch(keyed, skip=clusterer.fp_cluster)
        lock_project_planning(project_id)
        plan = clusterer.plan(
            rows, index_for(project_id), clusterer.joinable(), keyed=keyed, sig_of=sig_of
        )
        touched = {cid for _, cid in plan[3] if cid}
        if is_pg():
            clusterer.write(plan, events=False)
            clusters_add(_events_assign_returning(plan[3]))
        else:
            # SQLite runs one writer at a time; recounting the few clusters is simplest.
            clusterer.write(plan)
            cluster_stats_refresh(cluster_ids=touched)
    return len(rows), touched


def _pending_claim(project_id, limit):
    """Up to `limit` unprocessed events of the project, oldest first, locked for this
    transaction and skipped by everyone else's claims; returned in id order."""
    if not is_pg():
        return list(
            FeedbackEvent.objects.filter(project_id=project_id, processed_at__isnull=True)
            .annotate(root_inputs=root_inputs())
            .order_by("pk")
            .values_list(*_EVENT_FIELDS)[:limit]
        )
    # Lock first, then join the trace's root input for the claimed rows only. The order is
    # the partial index's own (processed_at is NULL throughout), so the scan stops at
    # `limit` rows instead of sorting the whole backlog.
    rows = rows_fetch(
        f"""e.id IN (SELECT c.id FROM {FeedbackEvent._meta.db_table} c
                     WHERE c.project_id = %s AND c.processed_at IS NULL
                     ORDER BY c.processed_at, c.received_at LIMIT %s
                     FOR UPDATE SKIP LOCKED)""",
        "",
        [project_id, limit],
    )
    return sorted(rows)


def _events_assign_returning(assign):
    """Set cluster + processed_at (PostgreSQL); returns the rows this statement changed:
    (project, cluster, created_at, tier, model_id, prompt_hash)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {FeedbackEvent._meta.db_table} AS t
                SET cluster_id = v.cluster_id, processed_at = %s
                FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, cluster_id)
                WHERE t.id = v.id AND t.processed_at IS NULL
                RETURNING t.project_id, t.cluster_id, t.created_at, t.customer_tier,
                          t.model_id, t.prompt_hash""",
            [timezone.now(), [pk for pk, _ in assign], [cid for _, cid in assign]],
        )
        return cur.fetchall()


def clusters_add(events):
    """Add newly processed events to their clusters' counts, first/last seen, top tier and
    facets (PostgreSQL). Exact as long as every event is added once: callers pass only
    the rows whose processed_at they just set."""
    per = {}
    facets = set()
    for project_id, cluster_id, created_at, tier, model_id, prompt_hash in events:
        if cluster_id is None:
            continue
        n, first, last, tiers = per.get(cluster_id, (0, created_at, created_at, set()))
        tiers.add(tier)
        per[cluster_id] = (n + 1, min(first, created_at), max(last, created_at), tiers)
        values = {"model_id": model_id, "prompt_hash": prompt_hash}
        for kind, column in FACET_COLUMNS.items():
            if values[column]:
                facets.add((project_id, cluster_id, kind, values[column]))
    if not per:
        return
    ids = sorted(per)
    weights = settings.TRIAGE_TIER_WEIGHTS
    with connection.cursor() as cur:
        # Locked in id order, so two writers never wait on each other crosswise.
        cur.execute(
            f"SELECT id, top_tier FROM {Cluster._meta.db_table} WHERE id = ANY(%s) "
            "ORDER BY id FOR UPDATE",
            [ids],
        )
        top = defaultdict(str, cur.fetchall())
        cur.execute(
            f"""UPDATE {Cluster._meta.db_table} AS c
                SET event_count = c.event_count + v.n,
                    first_seen_at = least(c.first_seen_at, v.f),
                    last_seen_at = greatest(c.last_seen_at, v.l),
                    top_tier = v.top
                FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::timestamptz[],
                            %s::text[]) AS v(id, n, f, l, top)
                WHERE c.id = v.id""",
            [
                ids,
                [per[i][0] for i in ids],
                [per[i][1] for i in ids],
                [per[i][2] for i in ids],
                [ranking.top_tier([top[i], *per[i][3]], weights) for i in ids],
            ],
        )
        if facets:
            rows = sorted(facets)
            cur.execute(
                f"""INSERT INTO {ClusterFacet._meta.db_table} (project_id, cluster_id, kind, value)
                    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])
                    ON CONFLICT (cluster_id, kind, value) DO NOTHING""",
                [[r[i] for r in rows] for i in range(4)],
            )
