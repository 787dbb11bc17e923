"""Reads for the reviewer pages."""

from collections import Counter
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from accounts.jsonbody import json_pretty
from accounts.query_params import clean_text, parse_float, parse_int, query_text

from . import evidence, time_to_eval
from .models import (
    Cluster,
    ClusterFacet,
    FailureMode,
    ItemComment,
    QueueItem,
    RubricField,
    SecondReview,
)
from .sql import capped, count_capped

QUEUE_PAGE_SIZE = 50
# The queue's tabs under a filter that matches at most this many items are counted from one
# read of their statuses (a few ms at 1 M items); a wider match takes a capped count a tab.
FEW_ITEMS = 2000
DEFAULT_STATUS = QueueItem.Status.PENDING.value
# Sortable columns: the ordering field and the SQL column of the keyset cursor. Every sort
# is descending with the item id as the tie-breaker, so pages never repeat or skip a row.
SORTS = {
    "score": ("score", "{queue}.score"),
    "reports": ("cluster__event_count", "{cluster}.event_count"),
    "last_seen": ("cluster__last_seen_at", "{cluster}.last_seen_at"),
}
DEFAULT_SORT = "score"


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters, parsed from a query string (unknown values are ignored)."""

    status: str = ""
    category: str = ""
    severity: str = ""  # p0 | p1
    tier: str = ""
    model: str = ""
    prompt_hash: str = ""
    assignee: str = ""  # "me" or a user id
    sort: str = DEFAULT_SORT

    @classmethod
    def from_query(cls, query):
        def pick(name, allowed=None):
            return query_text(query, name, allowed=allowed)

        # The default tab is "pending" (what is left to do); `status=all` shows every item.
        status = query.get("status")
        return cls(
            status=DEFAULT_STATUS if status is None else pick("status", QueueItem.Status.values),
            category=pick("category", settings.TRIAGE_CATEGORIES),
            severity=pick("severity", {"p0", "p1"}),
            tier=pick("tier", settings.TRIAGE_TIER_WEIGHTS),
            model=pick("model"),
            prompt_hash=pick("prompt_hash"),
            assignee=pick("assignee"),
            sort=pick("sort", SORTS) or DEFAULT_SORT,
        )

    def as_query(self, **extra):
        params = {k: v for k, v in asdict(self).items() if v}
        params["status"] = self.status or "all"
        if self.sort == DEFAULT_SORT:
            del params["sort"]
        params.update({k: v for k, v in extra.items() if v})
        return urlencode(params)

    @property
    def active(self):
        """Any filter besides the status tab (and the sort, which filters nothing)."""
        return any(v for k, v in asdict(self).items() if k not in ("status", "sort"))

    @property
    def changed(self):
        """Anything other than the default view (the "Clear" link shows then)."""
        return self.active or self.status != DEFAULT_STATUS or self.sort != DEFAULT_SORT

    def sorted_by(self, sort):
        return replace(self, sort=sort)


def _sort_value(item, sort):
    if sort == "reports":
        return item.cluster.event_count
    if sort == "last_seen":
        seen = item.cluster.last_seen_at
        return seen.isoformat() if seen else ""
    return repr(item.score)


def encode_cursor(item, sort=DEFAULT_SORT):
    return f"{_sort_value(item, sort)}_{item.pk}"


def decode_cursor(value, sort=DEFAULT_SORT):
    try:
        key, pk = clean_text(value, max_length=200).rsplit("_", 1)
        pk = parse_int(pk)
        if sort == "reports":
            key = parse_int(key, maximum=2**31 - 1)
        elif sort == "last_seen":
            key = datetime.fromisoformat(key)
        else:
            key = parse_float(key)
    except (ValueError, OverflowError):
        return None
    return None if key is None or pk is None else (key, pk)


def _apply_filters(items, *, project, filters, user):
    """Every filter but the status tab (the tab counts use the same ones)."""
    f = filters
    if f.category:
        items = items.filter(cluster__category=f.category)
    if f.severity == "p0":
        items = items.filter(cluster__category__in=settings.TRIAGE_P0_CATEGORIES)
    elif f.severity == "p1":
        items = items.exclude(cluster__category__in=settings.TRIAGE_P0_CATEGORIES)
    if f.tier:
        items = items.filter(cluster__top_tier=f.tier)
    for kind, value in (
        (ClusterFacet.Kind.MODEL, f.model),
        (ClusterFacet.Kind.PROMPT_HASH, f.prompt_hash),
    ):
        if value:
            # The cluster's facets (triage.facets), not its events: an index range scan
            # either way round. A prefix, so `gpt-4o` finds `gpt-4o-mini` too.
            facet = ClusterFacet.objects.filter(project=project, kind=kind, value__startswith=value)
            items = items.filter(Exists(facet.filter(cluster_id=OuterRef("cluster_id"))))
    if f.assignee:
        assignee_id = user.pk if f.assignee == "me" and user else parse_int(f.assignee)
        if assignee_id is not None:
            items = items.filter(Q(claimed_by_id=assignee_id) | Q(labelled_by_id=assignee_id))
    return items


def queue_facet_values(*, project, kind, limit=200):
    """Known model ids (or prompt hashes) of a project, for the filter's suggestions.

    A skip scan of cluster_facet_idx: one index probe per distinct value ("the next value
    after this one"), where SELECT DISTINCT reads every facet row (~1 s at 1 M clusters).
    """
    table = ClusterFacet._meta.db_table
    next_value = (
        f"SELECT value FROM {table} WHERE project_id = %s AND kind = %s AND value > v.value "
        "ORDER BY value LIMIT 1"
    )
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH RECURSIVE v(value, n) AS (
                    SELECT * FROM (SELECT value, 1 FROM {table}
                                   WHERE project_id = %s AND kind = %s
                                   ORDER BY value LIMIT 1) AS first
                    UNION ALL
                    SELECT ({next_value}), n + 1 FROM v
                    WHERE v.value IS NOT NULL AND n < %s)
                SELECT value FROM v WHERE value IS NOT NULL""",
            [project.pk, kind, project.pk, kind, limit],
        )
        return [row[0] for row in cur.fetchall()]


def queue_items(*, project, filters=QueueFilters(), user=None, after=None, limit=QUEUE_PAGE_SIZE):
    """One page of the queue in (score desc, id desc) order, after a keyset cursor.

    Returns (items, next_cursor). Keyset, not OFFSET: page 1000 costs what page 1 costs.
    """
    items = (
        QueueItem.objects.filter(project=project)
        .select_related("cluster", "claimed_by")
        # A row shows the first scrubbed comment only: not the whole scrubbed view (up to 20
        # comments and 3 traces per item, decoded 50 times a page).
        .defer("scrubbed", "cluster__minhash")
        .annotate(
            first_comment=KT("scrubbed__comments__0__text"),
            # A labelled P0 waits for its second review (the queue shows a pill).
            second_reviewed=Exists(
                SecondReview.objects.filter(item=OuterRef("pk"), first_version=OuterRef("version"))
            ),
        )
    )
    if filters.status:
        items = items.filter(status=filters.status)
    items = _apply_filters(items, project=project, filters=filters, user=user)
    field, column = SORTS[filters.sort]
    cursor = decode_cursor(after, filters.sort)
    if cursor:
        # A row comparison is an index range condition on (score, id) in both databases.
        column = column.format(
            queue=f'"{QueueItem._meta.db_table}"', cluster=f'"{Cluster._meta.db_table}"'
        )
        table = QueueItem._meta.db_table
        if filters.sort == "last_seen":  # as the backend stores it (SQLite: naive UTC text)
            cursor = (connection.ops.adapt_datetimefield_value(cursor[0]), cursor[1])
        items = items.extra(where=[f'({column}, "{table}"."id") < (%s, %s)'], params=list(cursor))
    page = list(items.order_by(f"-{field}", "-pk")[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1], filters.sort) if len(page) > limit else None
    return page[:limit], next_cursor


def queue_status_counts(*, project, filters=None, user=None):
    """Items per status, cached briefly (TRIAGE_QUEUE_COUNTS_TTL).

    Uncached this is an index-only scan of queue_next_idx: ~120-220 ms at 1 M items
    (bench/queue_claims.py). No cheap exact alternative: counters kept per status would add
    a write to every claim and label (one hot row all reviewers queue on, or delta rows
    plus a compaction job), slowing claim-next to speed up a cached number.
    """
    filtered = bool(filters and filters.active)
    if filtered:
        # The tabs follow the filters: not cached, and capped (TRIAGE_QUEUE_TAB_COUNT_CAP),
        # since an exact count of "every P0" is a scan of a third of the queue.
        items = _apply_filters(
            QueueItem.objects.filter(project=project), project=project, filters=filters, user=user
        )
        cap, statuses = settings.TRIAGE_QUEUE_TAB_COUNT_CAP, QueueItem.Status.values
        # A narrow filter: one read of its items' statuses counts every tab, where a capped
        # count per tab applies the filter once each.
        matched = list(items.order_by().values_list("status", flat=True)[: FEW_ITEMS + 1])
        if len(matched) <= FEW_ITEMS:
            per_status = Counter(matched)
            return {s: capped(per_status[s], cap) for s in statuses}
        return {s: count_capped(items.filter(status=s), cap) for s in statuses}
    cached = settings.TRIAGE_QUEUE_COUNTS_TTL
    key = f"triage:queue-counts:{project.pk}"
    counts = cache.get(key) if cached else None
    if counts is None:
        items = QueueItem.objects.filter(project=project)
        rows = dict(items.order_by().values_list("status").annotate(n=Count("pk")))
        counts = {status: rows.get(status, 0) for status in QueueItem.Status.values}
        if cached:
            cache.set(key, counts, settings.TRIAGE_QUEUE_COUNTS_TTL)
    return counts


def reviewer_progress(*, project, now=None):
    """Labels per reviewer today and this week (from Monday), most productive first."""
    now = timezone.localtime(now or timezone.now())
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    rows = (
        QueueItem.objects.filter(project=project, labelled_at__gte=week, labelled_by__isnull=False)
        .values("labelled_by_id", "labelled_by__username")
        .annotate(week=Count("pk"), today=Count("pk", filter=Q(labelled_at__gte=today)))
        .order_by("-week", "labelled_by__username")
    )
    return [
        {"user_id": r["labelled_by_id"], "username": r["labelled_by__username"],
         "today": r["today"], "week": r["week"]}
        for r in rows
    ]  # fmt: skip


def queue_neighbours(*, item):
    """The items before and after `item` in queue order (for j/k on the item page)."""
    base = QueueItem.objects.filter(project_id=item.project_id, status=item.status)
    table = QueueItem._meta.db_table
    key = [item.score, item.pk]
    nxt = (
        base.extra(where=[f'("{table}"."score", "{table}"."id") < (%s, %s)'], params=key)
        .order_by("-score", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    prev = (
        base.extra(where=[f'("{table}"."score", "{table}"."id") > (%s, %s)'], params=key)
        .order_by("score", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    return prev, nxt


def queue_item_titles(*, item_ids):
    """{item id: its first scrubbed complaint}, read from the JSON without loading the rest."""
    rows = QueueItem.objects.filter(pk__in=item_ids).values_list(
        "pk", "scrubbed__comments__0__text"
    )
    return {pk: text for pk, text in rows if text}


def item_discussion(*, item):
    """Top-level comments, oldest first, each with its replies."""
    comments = list(
        ItemComment.objects.filter(item=item)
        .select_related("author")
        .prefetch_related("mentioned")
        .order_by("created_at", "pk")
    )
    threads = [c for c in comments if c.parent_id is None]
    for thread in threads:
        thread.thread_replies = [c for c in comments if c.parent_id == thread.pk]
    return threads


def mentions_for(*, project, user, limit=5):
    """The latest comments that mention `user` in this project (the queue lists them)."""
    return list(
        ItemComment.objects.filter(item__project=project, mentioned=user)
        .select_related("author", "item")
        .order_by("-created_at", "-pk")[:limit]
    )


def rubric_fields(*, project, active=True):
    fields = RubricField.objects.filter(project=project)
    if active is not None:
        fields = fields.filter(active=active)
    return list(fields.order_by("position", "pk"))


def failure_mode_choices(*, project):
    builtin = [(m, m.replace("_", " ")) for m in QueueItem.FAILURE_MODES]
    custom = [
        (m.slug, m.label) for m in FailureMode.objects.filter(project=project).order_by("slug")
    ]
    taken = {slug for slug, _ in builtin}
    return builtin + [c for c in custom if c[0] not in taken]


def weekly_triage(*, project, week_start):
    """Items labelled in the week starting `week_start`, grouped by decision then owner."""
    week_end = week_start + timedelta(days=7)
    items = (
        QueueItem.objects.filter(
            project=project, labelled_at__gte=week_start, labelled_at__lt=week_end
        )
        .select_related("cluster", "labelled_by")
        .order_by("-score", "-pk")
    )
    groups = {}
    for item in items:
        owner = item.labelled_by.username if item.labelled_by else "—"
        groups.setdefault(item.decision, {}).setdefault(owner, []).append(item)
    labels = dict(QueueItem.Decision.choices)
    return [
        {
            "decision": decision,
            "label": labels[decision],
            "owners": sorted(groups.get(decision, {}).items()),
            "count": sum(len(v) for v in groups.get(decision, {}).values()),
        }
        for decision in QueueItem.Decision.values
    ]


def sla_hours_left(cluster, now=None):
    """Hours until a P0 cluster's 72 h time-to-eval SLA runs out (None if not P0)."""
    if not cluster.is_p0 or not cluster.first_seen_at:
        return None
    return round(time_to_eval.sla_hours_left(cluster.first_seen_at, now=now or timezone.now()), 1)


def _parse(ts):
    return datetime.fromisoformat(ts) if ts else None


def trace_waterfall(runs):
    """Scrubbed runs → depth-first rows with indentation depth and waterfall offsets in %."""
    by_parent = {}
    ids = {r["run_id"] for r in runs}
    for run in runs:
        parent = run["parent_run_id"] if run["parent_run_id"] in ids else ""
        by_parent.setdefault(parent, []).append(run)
    starts = [_parse(r["start_time"]) for r in runs if r["start_time"]]
    ends = [_parse(r["end_time"]) for r in runs if r["end_time"]]
    t0 = min(starts) if starts else None
    span = ((max(ends) - t0).total_seconds() if ends and t0 else 0) or 1
    rows = []

    # Depth-first in start order, iterative: a hostile trace may chain runs very deep.
    stack = [(run, 0) for run in reversed(by_parent.get("", []))]
    while stack:
        run, depth = stack.pop()
        start, end = _parse(run["start_time"]), _parse(run["end_time"])
        offset = ((start - t0).total_seconds() / span * 100) if start and t0 else 0
        width = ((end - start).total_seconds() / span * 100) if start and end else 0
        rows.append(
            {
                **run,
                "depth": depth,
                "offset_pct": round(offset, 2),
                "width_pct": max(round(width, 2), 0.5),
                "inputs_pretty": json_pretty(run["inputs"]),
                "outputs_pretty": json_pretty(run["outputs"]) if run["outputs"] is not None else "",
            }
        )
        stack.extend((child, depth + 1) for child in reversed(by_parent.get(run["run_id"], [])))
    return rows


def _documents(run):
    """Retriever results in a uniform shape: [{"content", "metadata"}]."""
    docs = run.get("documents")
    outputs = run.get("outputs")
    if docs is None and isinstance(outputs, dict):
        docs = outputs.get("documents")
    if docs is None and isinstance(outputs, list):
        docs = outputs
    if not isinstance(docs, list):
        return []
    out = []
    for doc in docs:
        if isinstance(doc, dict):
            content = doc.get("page_content", doc.get("content", doc.get("text", "")))
            out.append({"content": content, "metadata": doc.get("metadata") or {}})
        else:
            out.append({"content": doc, "metadata": {}})
    return out


def _messages(run):
    """An LLM run's prompt as [{"role", "content"}] when it is in chat shape."""
    inputs = run.get("inputs")
    if not isinstance(inputs, dict):
        return []
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]  # LangChain batches: [[msg, ...]]
    if isinstance(messages, list):
        out = []
        for m in messages:
            if isinstance(m, dict):
                content = m.get("content", m.get("text", ""))
                role = m.get("role") or m.get("type") or "message"
                out.append({"role": role, "content": content})
        return out
    prompts = inputs.get("prompts")
    if isinstance(prompts, list):
        return [{"role": "prompt", "content": p} for p in prompts]
    return []


def trace_replay(runs):
    """The run tree (rows for the waterfall) plus totals for one scrubbed trace."""
    rows = trace_waterfall(runs)
    for row in rows:
        row["documents"] = _documents(row) if row["run_type"] == "retriever" else []
        row["messages"] = _messages(row) if row["run_type"] == "llm" else []
        is_llm = row["run_type"] == "llm"
        row["completion"] = evidence.completion(row["outputs"]) if is_llm else None
    costs = [float(r["total_cost"]) for r in rows if r.get("total_cost")]
    starts = [_parse(r["start_time"]) for r in rows if r["start_time"]]
    ends = [_parse(r["end_time"]) for r in rows if r["end_time"]]
    return {
        "rows": rows,
        "evidence": evidence.trace_evidence(rows),
        "duration_ms": (max(ends) - min(starts)).total_seconds() * 1000
        if starts and ends
        else None,
        "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in rows),
        "completion_tokens": sum(r.get("completion_tokens") or 0 for r in rows),
        "cost": round(sum(costs), 6) if costs else None,
        "errors": sum(1 for r in rows if r.get("error")),
    }


def cluster_breakdown(comments):
    """Counts by model and prompt hash over the sampled (scrubbed) reports."""
    models, prompts, tiers = {}, {}, {}
    for c in comments:
        for bucket, key in (
            (models, c["model_id"]),
            (prompts, c["prompt_hash"]),
            (tiers, c["tier"]),
        ):
            if key:
                bucket[key] = bucket.get(key, 0) + 1
    return {"models": models, "prompts": prompts, "tiers": tiers}
