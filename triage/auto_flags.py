"""Auto-flag detection: one auto/implicit FeedbackEvent per (rule, trace) for new runs.

The rules themselves are pure functions in triage.flag_rules; this module reads the runs and
writes the events.
"""

import hashlib
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from feedback.models import FeedbackEvent, Run
from feedback.selectors import production_runs

from . import flag_rules

_RUN_FIELDS = (
    "run_id",
    "trace_id",
    "parent_run_id",
    "name",
    "run_type",
    "inputs",
    "outputs",
    "error",
    "metadata",
    "start_time",
    "total_cost",
)


# Newer Run rows carry a normalized stop reason column; use it when the model has it.
if any(f.name == "stop_reason" for f in Run._meta.get_fields()):
    _RUN_FIELDS = (*_RUN_FIELDS, "stop_reason")


def _p95s(project_id, now):
    since = now - timedelta(days=settings.TRIAGE_FLAG_P95_WINDOW_DAYS)
    per_trace = list(
        production_runs(project_id=project_id)
        .filter(start_time__gte=since)
        .values("trace_id")
        .annotate(cost=Sum("total_cost"), iterations=Count("pk", filter=Q(run_type="llm")))
        .values_list("cost", "iterations")
        .order_by()
    )
    if len(per_trace) < settings.TRIAGE_FLAG_P95_MIN_TRACES:
        return None, None
    cost = flag_rules.percentile([float(c or 0) for c, _ in per_trace], 95)
    iterations = flag_rules.percentile([i for _, i in per_trace], 95)
    return cost, iterations


def flags_detect(*, project_id, after_run_pk, upto_run_pk):
    """Create one auto/implicit FeedbackEvent per (rule, trace) for traces with new runs."""
    enabled = {rule for rule, on in settings.TRIAGE_AUTO_FLAGS.items() if on}
    if not enabled:
        return 0
    now = timezone.now()
    cost_p95, iterations_p95 = _p95s(project_id, now)
    new_runs = production_runs(project_id=project_id).filter(
        pk__gt=after_run_pk, pk__lte=upto_run_pk
    )
    trace_ids = sorted(set(new_runs.values_list("trace_id", flat=True)))
    found = []  # (trace_id, rule, detail, root)
    roots = {}
    for start in range(0, len(trace_ids), 2000):
        by_trace = defaultdict(list)
        for run in Run.objects.filter(
            project_id=project_id, trace_id__in=trace_ids[start : start + 2000]
        ).values(*_RUN_FIELDS):
            by_trace[run["trace_id"]].append(run)
        for trace_id in sorted(by_trace):
            runs = by_trace[trace_id]
            root = next((r for r in runs if not r["parent_run_id"]), runs[0])
            roots[trace_id] = root
            for rule, detail in flag_rules.trace_flags(
                runs,
                enabled=enabled,
                cost_p95=cost_p95 if "cost_p95" in enabled else None,
                iterations_p95=iterations_p95 if "iterations_p95" in enabled else None,
                confidence_threshold=settings.TRIAGE_FLAG_CONFIDENCE_THRESHOLD,
            ):
                found.append((trace_id, rule, detail, root))
    if "rephrase" in enabled:
        found += _rephrases(project_id, [r for r in roots.values() if not r["parent_run_id"]])
    events = [_flag_event(project_id, *f, now=now) for f in found]
    created = FeedbackEvent.objects.bulk_create(events, batch_size=2000, ignore_conflicts=True)
    return len(created)


def _rephrases(project_id, new_roots):
    sessions = {flag_rules.session_of(r) for r in new_roots} - {""}
    if not sessions:
        return []
    window = timedelta(seconds=settings.TRIAGE_REPHRASE_WINDOW_SECONDS)
    times = [r["start_time"] for r in new_roots if r["start_time"]]
    if not times:
        return []
    sessions = sorted(sessions)
    match = Q()
    for key in ("session_id", "thread_id", "conversation_id"):
        match |= Q(**{f"metadata__{key}__in": sessions})
    candidates = (
        production_runs(project_id=project_id)
        .filter(
            match,
            parent_run_id="",
            start_time__gte=min(times) - window,
            start_time__lte=max(times) + window,
        )
        .values(*_RUN_FIELDS)
    )
    roots = {}
    for run in candidates:
        session = flag_rules.session_of(run)
        if session in sessions:
            roots[run["trace_id"]] = run | {
                "session": session,
                "text": flag_rules.input_text(run["inputs"]),
            }
    out = []
    for trace_id, detail in flag_rules.rephrase_flags(
        list(roots.values()),
        window_seconds=settings.TRIAGE_REPHRASE_WINDOW_SECONDS,
        similarity=settings.TRIAGE_REPHRASE_SIMILARITY,
    ):
        out.append((trace_id, "rephrase", detail, roots[trace_id]))
    return out


def _flag_event(project_id, trace_id, rule, detail, root, *, now):
    client_id = f"auto:{rule}:{trace_id}"
    if len(client_id) > 128:  # keep it unique and within the column
        client_id = f"auto:{rule}:{hashlib.sha256(trace_id.encode()).hexdigest()}"
    source = (
        FeedbackEvent.Source.IMPLICIT
        if rule in flag_rules.IMPLICIT_RULES
        else FeedbackEvent.Source.AUTO
    )
    return FeedbackEvent(
        project_id=project_id,
        client_id=client_id,
        body_hash=hashlib.sha256(client_id.encode()).hexdigest(),
        trace_id=trace_id,
        run_id=root.get("run_id", ""),
        session_id=flag_rules.session_of(root)[:128],
        rating=FeedbackEvent.Rating.DOWN,
        category=settings.TRIAGE_FLAG_CATEGORIES.get(rule, "wrong"),
        comment=f"Auto-flag {rule}: {detail}",
        source=source,
        metadata={"rule": rule, "detail": detail},
        created_at=root.get("start_time") or now,
        received_at=now,
    )
