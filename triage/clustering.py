"""Clustering new feedback: the LSH index cache, the clusterer, the pipelined writer.

A million events must go through in under a minute, so the hot path reads in batches,
clusters in memory with MinHash LSH, and writes with one statement per batch (PostgreSQL
`unnest` arrays; a plain ORM path for SQLite).

Safety: every batch is one transaction under a per-project advisory lock, and an event is
marked processed in the same transaction that assigns its cluster, so a worker killed
mid-way leaves whole batches done or not done; the rerun carries on from there and, since
matching is deterministic (event id order, fixed seeds, ties → oldest cluster), ends with the
same clusters and queue.
"""

import gc
import hashlib
import json
import queue as queue_mod
import threading
from collections import OrderedDict, defaultdict
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.module_loading import import_string

from feedback.models import FeedbackEvent, Run

from . import dedupe, flag_rules, ranking
from .facets import cluster_facets_refresh, cluster_facets_refresh_since
from .models import Cluster, ClusterFingerprint, TriageRun
from .sql import copy_rows, is_pg, lock_project, no_sync_commit, update_rows

# Fixed and regressed clusters keep collecting: new complaints after a fix re-open it.
JOINABLE = (
    Cluster.Status.OPEN,
    Cluster.Status.KNOWN_ISSUE,
    Cluster.Status.FIXED,
    Cluster.Status.REGRESSED,
)


def triage_run_progress(run, **fields):
    """Progress for the page; the heartbeat it stamps tells the stale-run sweep we live."""
    if run is not None:
        TriageRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), **fields)


@contextmanager
def gc_paused():
    """No cyclic garbage collection while a batch loop allocates millions of row tuples.

    None of them form reference cycles, but each allocation burst makes the collector
    rescan every live container (a third of the clustering CPU at a million events).
    One full collection at the end sorts what survived (the index, the caches) into the
    oldest generation at once; left to the young generations, it would be rescanned
    several times over by the phases that follow.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


# --- the LSH index, cached per worker process --------------------------------------------

_INDEXES = OrderedDict()  # project id → ClusterIndex; a few projects at most


def index_for(project_id):
    """The project's cluster index, topped up with clusters created since it was built.

    Signatures never change once written, so only new rows need loading. A cache whose
    newest cluster no longer matches the database (rows rolled back) is rebuilt.
    """
    key = (project_id, settings.TRIAGE_DEDUPE_THRESHOLD, settings.TRIAGE_DEDUPE_NUM_PERM)
    index = _INDEXES.pop(key, None)
    if index is not None and index.last is not None:
        last_id, last_fp = index.last
        if not Cluster.objects.filter(pk=last_id, fingerprint=last_fp).exists():
            index = None
    if index is None:
        index = dedupe.ClusterIndex(
            threshold=settings.TRIAGE_DEDUPE_THRESHOLD, num_perm=settings.TRIAGE_DEDUPE_NUM_PERM
        )
        index.last = None
        index.last_alias = 0
    _INDEXES[key] = index
    while len(_INDEXES) > 4:
        _INDEXES.popitem(last=False)
    rows = (
        Cluster.objects.filter(
            project_id=project_id, kind=Cluster.Kind.ISSUE, minhash__isnull=False
        )
        .filter(pk__gt=index.last[0] if index.last else 0)
        .order_by("pk")
        .values_list("pk", "category", "intent", "minhash", "fingerprint")
    )
    for pk, category, intent, sig, fp in rows.iterator(chunk_size=5000):
        index.add(pk, dedupe.partition(category, intent), dedupe.signature_load(sig), key=fp)
        index.last = (pk, fp)
    extras = (
        ClusterFingerprint.objects.filter(
            project_id=project_id, minhash__isnull=False, pk__gt=index.last_alias
        )
        .order_by("pk")
        .values_list(
            "pk", "cluster_id", "cluster__category", "cluster__intent", "minhash", "fingerprint"
        )
    )
    for pk, cluster_id, category, intent, sig, fp in extras.iterator(chunk_size=5000):
        part = dedupe.partition(category, intent)
        index.add(cluster_id, part, dedupe.signature_load(sig), key=fp)
        index.last_alias = pk
    return index


def _new_cluster_ids(n):
    """Real primary keys for clusters created in bulk, so the index can use them at once."""
    if not n:
        return []
    if is_pg():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Cluster._meta.db_table, n],
            )
            return [r[0] for r in cur.fetchall()]
    start = (Cluster.objects.aggregate(m=Max("pk"))["m"] or 0) + 1  # inside the write lock
    return list(range(start, start + n))


# --- clustering ---------------------------------------------------------------------------


def root_inputs():
    return Subquery(
        Run.objects.filter(
            project_id=OuterRef("project_id"), trace_id=OuterRef("trace_id"), parent_run_id=""
        )
        .order_by("pk")
        .values("inputs")[:1]
    )


def pending_rows(project_id, after, upto, limit):
    """The next batch of unprocessed events with their trace's root input, in id order."""
    if not is_pg():
        return list(
            FeedbackEvent.objects.filter(
                project_id=project_id, processed_at__isnull=True, pk__gt=after, pk__lte=upto
            )
            .annotate(root_inputs=root_inputs())
            .order_by("pk")
            .values_list(*_EVENT_FIELDS)[:limit]
        )
    return rows_fetch(
        "e.project_id = %s AND e.processed_at IS NULL AND e.id > %s AND e.id <= %s",
        "ORDER BY e.id LIMIT %s",
        [project_id, after, upto, limit],
    )


def rows_fetch(where, tail, params):
    """Event rows (_EVENT_FIELDS) with their trace's root input, straight SQL (PostgreSQL):
    the ORM's per-row conversions cost seconds at a million rows."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT e.id, e.category, e.intent, e.comment, e.prompt_hash, e.rating, e.score,
                       r.inputs
                FROM {FeedbackEvent._meta.db_table} e
                LEFT JOIN LATERAL (
                    SELECT inputs FROM {Run._meta.db_table} r
                    WHERE r.project_id = e.project_id AND r.trace_id = e.trace_id
                      AND r.parent_run_id = ''
                    ORDER BY r.id LIMIT 1
                ) r ON e.trace_id <> ''
                WHERE {where} {tail}""",
            params,
        )
        rows = cur.fetchall()
    return [(*row[:7], json.loads(row[7]) if isinstance(row[7], str) else row[7]) for row in rows]


_EVENT_FIELDS = (
    "pk", "category", "intent", "comment", "prompt_hash", "rating", "score", "root_inputs",
)  # fmt: skip


def _is_negative(rating, score):
    if rating:
        return rating == FeedbackEvent.Rating.DOWN
    return score is not None and score < 0.5


def _fp(category, normalized, prompt_hash):
    key = normalized or f"<no comment> {prompt_hash}"
    return hashlib.sha256(f"{category}\x1f{key}".encode()).hexdigest()


def event_tokens(comment, inputs):
    """The clustering tokens of one event: its comment, with the trace's question if thin."""
    return dedupe.complaint_tokens(comment, flag_rules.input_text(inputs) if inputs else "")


def cluster_embedder():
    """The operator's embedding backend (TRIAGE_CLUSTER_EMBEDDER), or None: off by default."""
    path = settings.TRIAGE_CLUSTER_EMBEDDER
    return import_string(path) if path else None


class Clusterer:
    """Assigns event rows to clusters. One per job run (or per ingest call)."""

    def __init__(self, project_id):
        self.project_id = project_id
        self.sketcher = dedupe.Sketcher(settings.TRIAGE_DEDUPE_NUM_PERM)
        self.fp_cluster = {}  # fingerprint → cluster id, for this run

    def joinable(self):
        return set(
            Cluster.objects.filter(
                project_id=self.project_id, kind=Cluster.Kind.ISSUE, status__in=JOINABLE
            ).values_list("pk", flat=True)
        )

    def process(self, rows):
        """Cluster and write one batch (inside the caller's locked transaction)."""
        plan = self.plan(rows, index_for(self.project_id), self.joinable())
        self.write(plan)
        return {cid for _, cid in plan[3] if cid}

    def write(self, plan, *, events=True):
        """Write a plan; events=False leaves the events' assignment to the caller."""
        new_clusters, new_aliases, stale, assign = plan
        _clusters_insert(self.project_id, new_clusters)
        if stale:
            ClusterFingerprint.objects.filter(
                project_id=self.project_id, fingerprint__in=stale
            ).delete()
        _aliases_insert(self.project_id, new_aliases)
        if events:
            _events_assign(assign)

    def key_rows(self, rows):
        """rows: tuples of _EVENT_FIELDS → (pk, (category, intent), tokens, fingerprint); no
        fingerprint for events that are not complaints. Pure: runs outside any lock."""
        keyed = []
        for pk, category, intent, comment, prompt_hash, rating, score, inputs in rows:
            if not _is_negative(rating, score):
                keyed.append((pk, None, None, None))
                continue
            tokens = event_tokens(comment, inputs)
            fp = dedupe.complaint_key(
                category=category, intent=intent, tokens=tokens, prompt_hash=prompt_hash
            )
            keyed.append((pk, (category, intent), tokens, fp))
        return keyed

    def sketch(self, keyed, skip=()):
        """{fingerprint: MinHash signature or None (no content words)} for the keyed rows'
        tokens, one vectorized pass; fingerprints in `skip` are left out."""
        todo = {}
        for _, _, tokens, fp in keyed:
            if fp and fp not in skip and fp not in todo:
                todo[fp] = tokens
        embed = cluster_embedder()
        if embed is not None and todo:
            # Keywords only (no names, numbers or contact details): the backend may be remote.
            extra = dedupe.embedding_tokens(embed([" ".join(sorted(t)) for t in todo.values()]))
            todo = {
                fp: tokens | more for (fp, tokens), more in zip(todo.items(), extra, strict=True)
            }
        sigs = self.sketcher.sketch_many(list(todo.values()))
        return {fp: (sigs[i] if tokens else None) for i, (fp, tokens) in enumerate(todo.items())}

    def plan(self, rows, index, allowed, *, keyed=None, sig_of=None):
        """rows: tuples of _EVENT_FIELDS in id order → what to write (no writes here).

        `index` and `allowed` are updated in place with the clusters this batch creates.
        `keyed`/`sig_of`: key_rows()/sketch() of the rows, when computed beforehand (the
        per-ingest path does that before it takes the planning lock).
        """
        if keyed is None:
            keyed = self.key_rows(rows)

        # Exact fingerprints seen before (in any run) go straight to their cluster.
        unknown = {fp for _, _, _, fp in keyed if fp and fp not in self.fp_cluster}
        stale_aliases = set()
        for fp, cluster_id in _chunked_lookup(self.project_id, unknown):
            if cluster_id in allowed:
                self.fp_cluster[fp] = cluster_id
            else:
                stale_aliases.add(fp)  # its cluster was closed: a new one starts

        # Sketch every still-unknown text of the batch in one vectorized pass.
        if sig_of is None:
            sig_of = self.sketch(keyed, skip=self.fp_cluster)

        reps_cap = settings.TRIAGE_DEDUPE_REPRESENTATIVES
        new_clusters, new_aliases, assign = [], {}, []
        pending_ids = []
        for pk, key, _, fp in keyed:
            if fp is None:
                assign.append((pk, None))
                continue
            cluster_id = self.fp_cluster.get(fp)
            if cluster_id is None:
                category, intent = key
                part = dedupe.partition(category, intent)
                sig = sig_of[fp]
                extra_rep = None
                if sig is not None:
                    cluster_id, sim = index.best_match(part, sig, allowed)
                    if (
                        cluster_id is not None
                        and sim < 1.0
                        and index.representatives(cluster_id) < reps_cap
                    ):
                        index.add(cluster_id, part, sig, key=fp)
                        extra_rep = sig
                if cluster_id is None:
                    if not pending_ids:
                        pending_ids = _new_cluster_ids(1024)[::-1]
                    cluster_id = pending_ids.pop()
                    # The fingerprint of a closed cluster is taken: derive a fresh one.
                    rep_fp = fp if fp not in stale_aliases else _fp(fp, str(pk), "")
                    new_clusters.append((cluster_id, rep_fp, category, intent, sig))
                    allowed.add(cluster_id)
                    if sig is not None:
                        index.add(cluster_id, part, sig, key=rep_fp)
                        index.last = (cluster_id, rep_fp)
                self.fp_cluster[fp] = cluster_id
                new_aliases[fp] = (cluster_id, extra_rep)
            assign.append((pk, cluster_id))

        return new_clusters, new_aliases, stale_aliases & set(new_aliases), assign


class _Abandoned(Exception):
    """An earlier batch failed: this one rolls back instead of committing out of order."""


class PipelinedWriter:
    """Writes planned batches on two more connections, in order, while the next is planned.

    Python (one core) clusters the next batch while the database rewrites the rows of the
    previous ones. Rewriting an event row (six indexes, a foreign key check at commit) is
    the slowest part, so two writers run two batches' statements at once; each batch is
    still one transaction and they commit in submission order, so a kill leaves a prefix
    of whole batches, exactly like the synchronous path. Batches touch disjoint events and
    create disjoint clusters and fingerprints, so the writers never wait on each other's
    rows. Only used while the job holds the project's session lock, so no one else
    clusters in between.
    """

    WRITERS = 2

    def __init__(self, clusterer, run):
        self.clusterer, self.run = clusterer, run
        self.queue = queue_mod.Queue(maxsize=1)  # few batches in flight: memory stays bounded
        self.error = None
        self.turn = threading.Condition()
        self.submitted = self.committed = 0
        self.threads = [
            threading.Thread(target=self._loop, name=f"triage-writer-{i}", daemon=True)
            for i in range(self.WRITERS)
        ]
        for thread in self.threads:
            thread.start()

    def _loop(self):
        try:
            while (item := self.queue.get()) is not None:
                if self.error is not None:
                    continue  # drain until close()
                try:
                    self._write(*item)
                except Exception as exc:  # surfaced by close()
                    with self.turn:
                        self.error = self.error or exc
                        self.turn.notify_all()
        finally:
            connection.close()

    def _write(self, seq, plan, done):
        with transaction.atomic():
            no_sync_commit()
            self.clusterer.write(plan)
            with self.turn:
                while self.committed != seq and self.error is None:
                    self.turn.wait()
                if self.error is not None:
                    raise _Abandoned
        # Committed; the next batch may commit once the progress names this one.
        triage_run_progress(self.run, done=done)
        with self.turn:
            self.committed += 1
            self.turn.notify_all()

    def submit(self, plan, done):
        if self.error is not None:
            raise self.error
        self.queue.put((self.submitted, plan, done))
        self.submitted += 1

    def close(self):
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error


def _clusters_insert(project_id, new_clusters):
    now = timezone.now()
    if is_pg():
        copy_rows(
            Cluster._meta.db_table,
            ["id", "project_id", "fingerprint", "category", "intent", "status", "event_count",
             "top_tier", "score", "score_breakdown", "created_at", "minhash", "kind",
             "queue_reason", "fixed_commit"],
            (
                (cid, project_id, fp, category, intent, Cluster.Status.OPEN, 0, "", 0.0, "{}",
                 now, dedupe.signature_bytes(sig) if sig is not None else None,
                 Cluster.Kind.ISSUE, "", "")
                for cid, fp, category, intent, sig in new_clusters
            ),
        )  # fmt: skip
        return
    Cluster.objects.bulk_create(
        [
            Cluster(
                pk=cid,
                project_id=project_id,
                fingerprint=fp,
                category=category,
                intent=intent,
                created_at=now,
                minhash=dedupe.signature_bytes(sig) if sig is not None else None,
            )
            for cid, fp, category, intent, sig in new_clusters
        ],
        batch_size=500,
    )


def _aliases_insert(project_id, aliases):
    # Under the project lock, and only for fingerprints the lookup did not find: no conflicts.
    def sig_bytes(sig):
        return dedupe.signature_bytes(sig) if sig is not None else None

    if is_pg():
        copy_rows(
            ClusterFingerprint._meta.db_table,
            ["project_id", "fingerprint", "cluster_id", "minhash"],
            ((project_id, fp, cid, sig_bytes(sig)) for fp, (cid, sig) in aliases.items()),
        )
        return
    ClusterFingerprint.objects.bulk_create(
        [
            ClusterFingerprint(
                project_id=project_id, fingerprint=fp, cluster_id=cid, minhash=sig_bytes(sig)
            )
            for fp, (cid, sig) in aliases.items()
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


def _chunked_lookup(project_id, fps):
    """(fingerprint, cluster id) for the known ones among `fps`."""
    fps = sorted(fps)
    if is_pg() and fps:
        # A COPY-filled temp table joins far faster than a 5000-value IN list.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS _fp_lookup")
            cur.execute("CREATE TEMP TABLE _fp_lookup (fp varchar(64)) ON COMMIT DROP")
            copy_rows("_fp_lookup", ["fp"], ((fp,) for fp in fps))
            cur.execute(
                f"""SELECT a.fingerprint, a.cluster_id
                    FROM {ClusterFingerprint._meta.db_table} a JOIN _fp_lookup l
                    ON a.fingerprint = l.fp WHERE a.project_id = %s""",
                [project_id],
            )
            found = cur.fetchall()
        yield from found
        return
    for start in range(0, len(fps), 5000):
        yield from ClusterFingerprint.objects.filter(
            project_id=project_id, fingerprint__in=fps[start : start + 5000]
        ).values_list("fingerprint", "cluster_id")


def _events_assign(assign):
    """Set cluster + processed_at for a batch; rows processed meanwhile are left alone."""
    now = timezone.now()
    if is_pg():
        update_rows(
            FeedbackEvent._meta.db_table,
            ["id", "cluster_id"],
            ["bigint", "bigint"],
            assign,
            extra_set="processed_at = %s",
            extra_where="t.processed_at IS NULL",
            params=[now],
        )
        return
    by_cluster = defaultdict(list)
    for pk, cid in assign:
        by_cluster[cid].append(pk)
    for cid, pks in by_cluster.items():
        for start in range(0, len(pks), 500):
            FeedbackEvent.objects.filter(
                pk__in=pks[start : start + 500], processed_at__isnull=True
            ).update(cluster_id=cid, processed_at=now)


def cluster_stats_refresh(*, cluster_ids):
    """Recompute counts, first/last seen, top tier and facets from the events (idempotent)."""
    ids = sorted(set(cluster_ids))
    weights = settings.TRIAGE_TIER_WEIGHTS
    for start in range(0, len(ids), 20000):
        chunk = ids[start : start + 20000]
        events = FeedbackEvent.objects.filter(cluster_id__in=chunk)
        stats = {
            row[0]: row[1:]
            for row in events.values("cluster_id")
            .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
            .values_list("cluster_id", "n", "first", "last")
            .order_by()
        }
        tiers = defaultdict(list)
        for cluster_id, tier in (
            events.values_list("cluster_id", "customer_tier").distinct().order_by()
        ):
            tiers[cluster_id].append(tier)
        rows = [
            (cid, n, first, last, ranking.top_tier(tiers[cid], weights))
            for cid, (n, first, last) in stats.items()
        ]
        # Clusters whose events all moved away (drift samples) count zero.
        rows += [(cid, 0, None, None, "") for cid in chunk if cid not in stats]
        if is_pg():
            update_rows(
                Cluster._meta.db_table,
                ["id", "event_count", "first_seen_at", "last_seen_at", "top_tier"],
                ["bigint", "integer", "timestamptz", "timestamptz", "text"],
                rows,
            )
        else:
            for cid, n, first, last, tier in rows:
                Cluster.objects.filter(pk=cid).update(
                    event_count=n, first_seen_at=first, last_seen_at=last, top_tier=tier
                )
    cluster_facets_refresh(cluster_ids=ids)


def cluster_stats_refresh_since(project_id, since):
    """cluster_stats_refresh for every cluster with events after `since`: one statement.

    Same rules as the ORM version (top tier = highest weight, ties → greater name). Under
    the project lock: a count taken while per-ingest workers add to it would overwrite
    their increments with a stale total.
    """
    weights = settings.TRIAGE_TIER_WEIGHTS
    events, clusters = FeedbackEvent._meta.db_table, Cluster._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        lock_project(project_id)
        cur.execute(
            f"""WITH touched AS (
                    SELECT DISTINCT cluster_id FROM {events}
                    WHERE project_id = %s AND id > %s AND cluster_id IS NOT NULL),
                ct AS (
                    SELECT e.cluster_id, e.customer_tier AS t, count(*) AS n,
                           min(e.created_at) AS f, max(e.created_at) AS l
                    FROM {events} e JOIN touched USING (cluster_id)
                    GROUP BY 1, 2),
                w AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS w(t, weight)),
                per AS (
                    SELECT cluster_id, sum(n) AS n, min(f) AS f, max(l) AS l,
                           (array_agg(t ORDER BY coalesce(weight, 1.0) DESC, t DESC)
                                FILTER (WHERE t <> ''))[1] AS top
                    FROM ct LEFT JOIN w USING (t) GROUP BY 1)
                UPDATE {clusters} AS c
                SET event_count = per.n, first_seen_at = per.f, last_seen_at = per.l,
                    top_tier = coalesce(per.top, '')
                FROM per WHERE c.id = per.cluster_id""",
            [project_id, since, list(weights), [float(v) for v in weights.values()]],
        )
        cluster_facets_refresh_since(project_id, since)
