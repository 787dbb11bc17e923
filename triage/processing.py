"""Per-ingest processing: committed feedback is clustered and counted within moments.

The cost used to be per task (a task per request, each loading the project's clusters and
recounting every cluster it touched from all of its events), so processing ran at ~100
events/s however fast ingest was. Now a task processes every pending event of its
projects, in batches of TRIAGE_PROCESS_BATCH: at low traffic a batch is one request's
events, under load it is whatever piled up meanwhile, and the later tasks find nothing left
to do. Cluster counts grow by what a batch adds instead of being recounted.

Scale-out (PostgreSQL): each batch is one transaction that takes the project lock shared,
claims its rows with `FOR UPDATE SKIP LOCKED` (two workers never claim the same event) and
keys and sketches them (the CPU work, in parallel across workers). Matching needs the
clusters the other workers just made, so workers plan one at a time per project: under the
planning lock, on a second connection of the worker (a thread of its own), in a short
transaction of its own that writes the batch's new clusters and fingerprints and commits,
which hands the lock on. The batch's transaction then marks its events processed and adds
them to their clusters' counts, while the next worker plans: only the counts of clusters two
batches share wait for each other. The job and other whole-project writers take the project
lock exclusively and so never meet a claimed row.

A killed worker's batch leaves no partial counts: events and counts commit together. If it
dies after its plan committed, the new clusters wait with a count of 0 (and their fingerprints
point at them) until a worker claims those events again and, matching by fingerprint first,
puts them in the same clusters. Inside a caller's transaction (tests) the planning stays on
that transaction, as it must (a second connection would not see its rows).
"""

import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection, transaction
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
    apart = is_pg() and not connection.in_atomic_block  # the batch is our transaction
    mark = _Phases()
    with transaction.atomic():
        no_sync_commit()
        lock_project_shared(project_id)
        rows = _pending_claim(project_id, settings.TRIAGE_PROCESS_BATCH)
        mark("claim")
        if not rows:
            return 0, set()
        keyed = clusterer.key_rows(rows)
        sig_of = clusterer.sketch(keyed, skip=clusterer.fp_cluster)
        mark("key_sketch")
        if apart:
            plan = planner.run(_plan_write, clusterer, rows, keyed, sig_of, mark)
        else:
            plan = _plan_write(clusterer, rows, keyed, sig_of, mark)
        mark("plan_commit")
        touched = {cid for _, cid in plan[3] if cid}
        if is_pg():
            changed = _events_assign_returning(plan[3])
            mark("events_update")
            clusters_add(changed)
            mark("clusters_add")
        else:
            # SQLite runs one writer at a time; recounting the few clusters is simplest.
            cluster_stats_refresh(cluster_ids=touched)
    mark("commit")
    mark.record(workers_apart=apart, events=len(rows), new_clusters=len(plan[0]))
    return len(rows), touched


def _plan_write(clusterer, rows, keyed, sig_of, mark):
    """Under the planning lock: match the batch and write its new clusters and fingerprints
    (PostgreSQL leaves the events to the batch's transaction; SQLite writes them here)."""
    lock_project_planning(clusterer.project_id)
    mark("plan_wait")
    index = index_for(clusterer.project_id)
    plan = clusterer.plan(rows, index, clusterer.joinable(), keyed=keyed, sig_of=sig_of)
    mark("plan")
    clusterer.write(plan, events=not is_pg())
    mark("plan_write")
    return plan


class _Phases:
    """Wall time per phase of one batch, appended as a JSON line to TRIAGE_PROCESS_TRACE
    (a file path; off when empty): bench/pipeline.py --trace averages them per worker count."""

    def __init__(self):
        self.path = settings.TRIAGE_PROCESS_TRACE
        self.last = time.perf_counter()
        self.ms, self.cpu = {}, time.process_time()

    def __call__(self, phase):
        if self.path:
            now = time.perf_counter()
            self.ms[phase] = round((now - self.last) * 1000, 2)
            self.last = now

    def record(self, **fields):
        if self.path:
            fields |= {
                "pid": os.getpid(),
                "at": time.time(),
                "ms": self.ms,
                "cpu_ms": round((time.process_time() - self.cpu) * 1000, 2),
            }
            with open(self.path, "a") as f:
                f.write(json.dumps(fields) + "\n")


class _Planner:
    """A worker process's planning thread: its own connection, one transaction per call,
    so a plan commits (and hands the planning lock on) before its batch does.

    The calling thread waits for each call; its batch transaction meanwhile holds only the
    shared project lock and its claimed rows, which the planning transaction never needs
    (and it takes the cluster rows it counts only after the plan).
    """

    def __init__(self):
        self._pid, self._pool = None, None

    def run(self, fn, *args):
        if self._pid != os.getpid():  # threads do not survive a fork
            self._pid = os.getpid()
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-plan")
        return self._pool.submit(self._call, fn, args).result()

    @staticmethod
    def _call(fn, args):
        close_old_connections()  # drops a broken or expired connection of this thread
        with transaction.atomic():
            no_sync_commit()
            # The batch waits for this thread, and PostgreSQL cannot see that wait: should
            # this transaction ever queue behind the batch's own locks, fail it (the task
            # retries) instead of hanging both.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '30s'")
            return fn(*args)

    def close(self):
        """Close the thread's connection (tests: before their database is dropped)."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.submit(lambda: connection.close()).result()  # the thread's own


planner = _Planner()


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
        # Locked in id order, so two writers never wait on each other crosswise; NO KEY
        # UPDATE, so planners adding fingerprints to these clusters (a foreign key's KEY
        # SHARE lock) never wait on a batch.
        cur.execute(
            f"SELECT id, top_tier FROM {Cluster._meta.db_table} WHERE id = ANY(%s) "
            "ORDER BY id FOR NO KEY UPDATE",
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
