"""Production health: the periodic rollup of runs and feedback into MetricRollup rows, the
rates derived from them, and the reads the metrics API and health pages make.

Definitions (the API, the pages and the alerts all use these):
- a trace is production traffic unless a run of it is an experiment
  (metrics_sql.experiment_run_sql);
- judged: the trace has explicit feedback (rating or score) or a judge score in a run's
  metadata (`judge_score`, sampled judges);
- success: judged, no negative feedback, judge score ≥ TRIAGE_JUDGE_PASS_SCORE when there
  is one, and the root run did not error; success rate = successes / judged;
- cost per successful task = cost per trace / success rate (spend per successful outcome,
  the judged success rate extrapolated to all traffic); the same for tokens.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Project

from . import metrics_sql
from .models import MetricRollup

DIMENSIONS = (metrics_sql.ALL, *metrics_sql.DIMENSIONS)
BUCKET = {
    MetricRollup.Granularity.HOUR: timedelta(hours=1),
    MetricRollup.Granularity.DAY: timedelta(days=1),
}


def bucket_floor(moment, granularity):
    moment = moment.astimezone(UTC)
    if granularity == MetricRollup.Granularity.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _datetime(value):
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))  # SQLite hands back text
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def _cost(value):
    return Decimal(str(round(float(value or 0), 8))) if not isinstance(value, Decimal) else value


def metrics_slices(*, project, start, end, dimensions=DIMENSIONS):
    """Production traffic in [start, end) per value of each dimension:
    {dimension: [MetricRollup field values (unsaved)]}, biggest slice first. The window's
    runs are read once (metrics_sql.window_query), then aggregated per dimension."""
    result = {}
    found = metrics_sql.window_query(
        project_id=project.pk, start=start, end=end, dimensions=dimensions
    )
    for dimension, (totals, run_types) in found.items():
        rows = {}
        for row in totals:
            values = dict(zip(metrics_sql.SLICE_TOTALS_COLUMNS, row, strict=True))
            for name in ("first_seen_at", "last_seen_at"):
                values[name] = _datetime(values[name])
            values["cost"] = _cost(values["cost"])
            for name in ("latency_p50_ms", "latency_p95_ms"):
                values[name] = None if values[name] is None else float(values[name])
            values["run_type_latency"] = {}
            rows[values["value"]] = values
        for value, run_type, runs, p50, p95 in run_types:
            if value in rows:
                rows[value]["run_type_latency"][run_type] = {
                    "runs": runs,
                    "p50_ms": float(p50),
                    "p95_ms": float(p95),
                }
        result[dimension] = sorted(rows.values(), key=lambda r: (-r["traces"], r["value"]))
    return result


def metrics_rollup(*, project, granularity, bucket_start):
    """(Re)compute one bucket of a project for every dimension. Idempotent: the bucket's
    rows are replaced in one transaction."""
    bucket_start = bucket_floor(bucket_start, granularity)
    end = bucket_start + BUCKET[granularity]
    now = timezone.now()
    found = metrics_slices(project=project, start=bucket_start, end=end)
    rows = [
        MetricRollup(
            project=project,
            granularity=granularity,
            bucket_start=bucket_start,
            dimension=dimension,
            computed_at=now,
            **values,
        )
        for dimension, slices in found.items()
        for values in slices
    ]
    with transaction.atomic():
        MetricRollup.objects.filter(
            project=project, granularity=granularity, bucket_start=bucket_start
        ).delete()
        MetricRollup.objects.bulk_create(rows)
    return len(rows)


def metrics_rollup_recent(*, now=None):
    """What the periodic task runs: this hour and the last, today and yesterday, for every
    project (late runs of older buckets are picked up by metrics_rebuild); hourly rows older
    than TRIAGE_HOURLY_ROLLUP_DAYS are dropped."""
    now = now or timezone.now()
    # Hourly rows serve the last day (versions in production, alerts' context); keep a week.
    MetricRollup.objects.filter(
        granularity=MetricRollup.Granularity.HOUR,
        bucket_start__lt=now - timedelta(days=settings.TRIAGE_HOURLY_ROLLUP_DAYS),
    ).delete()
    written = 0
    for project in Project.objects.all():
        for granularity in (MetricRollup.Granularity.HOUR, MetricRollup.Granularity.DAY):
            current = bucket_floor(now, granularity)
            for bucket_start in (current - BUCKET[granularity], current):
                written += metrics_rollup(
                    project=project, granularity=granularity, bucket_start=bucket_start
                )
    return written


def metrics_rebuild(*, project, days, now=None):
    """Recompute the last `days` days (daily buckets, and hourly ones for the last day)."""
    now = now or timezone.now()
    today = bucket_floor(now, MetricRollup.Granularity.DAY)
    written = 0
    for back in range(days):
        written += metrics_rollup(
            project=project,
            granularity=MetricRollup.Granularity.DAY,
            bucket_start=today - timedelta(days=back),
        )
    hour = bucket_floor(now, MetricRollup.Granularity.HOUR)
    for back in range(24):
        written += metrics_rollup(
            project=project,
            granularity=MetricRollup.Granularity.HOUR,
            bucket_start=hour - timedelta(hours=back),
        )
    return written


# --- derived rates (pure) -------------------------------------------------------------


def _ratio(numerator, denominator, digits=6):
    return round(numerator / denominator, digits) if denominator else None


def rollup_rates(row):
    """The figures people read, from one rollup row (a MetricRollup or a dict of its fields)."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    traces, successes, judged = get("traces"), get("successes"), get("judged")
    cost = float(get("cost") or 0)
    success_rate = _ratio(successes, judged)
    cost_per_trace = _ratio(cost, traces, 8)
    tokens_per_trace = _ratio(get("tokens"), traces, 3)
    return {
        "traces": traces,
        "thumbs_down_rate": _ratio(get("thumbs_down"), traces),
        "judged": judged,
        "success_rate": success_rate,
        "latency_p50_ms": get("latency_p50_ms"),
        "latency_p95_ms": get("latency_p95_ms"),
        "latency_by_run_type": get("run_type_latency") or {},
        "cost": round(cost, 8),
        "cost_per_trace": cost_per_trace,
        "cost_per_success": (
            round(cost * judged / (traces * successes), 8) if traces and successes else None
        ),
        "tokens_per_trace": tokens_per_trace,
        "tokens_per_success": (
            round(get("tokens") * judged / (traces * successes), 3)
            if traces and successes
            else None
        ),
        "tool_error_rate": _ratio(get("tool_error_traces"), traces),
        "parse_error_rate": _ratio(get("parse_error_traces"), traces),
        "empty_response_rate": _ratio(get("empty_response_traces"), traces),
        "max_tokens_rate": _ratio(get("max_tokens_traces"), traces),
        "breaker_rate": _ratio(get("breaker_traces"), traces),
        "tool_calls_per_success": _ratio(get("success_tool_calls"), successes, 3),
        "redundant_call_rate": _ratio(get("redundant_calls"), get("tool_calls")),
    }


# --- reads ------------------------------------------------------------------------------


def metrics_series(*, project, days, by=metrics_sql.ALL, now=None):
    """Daily figures for the last `days` days (today included), one series per slice value,
    biggest slice first."""
    now = now or timezone.now()
    since = bucket_floor(now, MetricRollup.Granularity.DAY) - timedelta(days=days - 1)
    rows = MetricRollup.objects.filter(
        project=project,
        granularity=MetricRollup.Granularity.DAY,
        dimension=by,
        bucket_start__gte=since,
    ).order_by("value", "bucket_start")
    series = {}
    for row in rows:
        entry = series.setdefault(row.value, {"value": row.value, "traces": 0, "days": []})
        entry["traces"] += row.traces
        entry["days"].append({"day": row.bucket_start.date(), **rollup_rates(row)})
    return {
        "days": days,
        "by": by,
        "since": since.date(),
        "series": sorted(series.values(), key=lambda s: (-s["traces"], s["value"])),
    }


VERSION_DIMENSIONS = {"prompt_hash": "prompt_hashes", "model_id": "model_ids"}


def versions_in_production(*, project, now=None, hours=24):
    """Prompt hashes and model ids seen in the last `hours` hours (hourly rollups, so as
    fresh as the last rollup run): first/last seen, traces and share of traffic."""
    now = now or timezone.now()
    since = bucket_floor(now, MetricRollup.Granularity.HOUR) - timedelta(hours=hours - 1)
    rows = MetricRollup.objects.filter(
        project=project,
        granularity=MetricRollup.Granularity.HOUR,
        dimension__in=[metrics_sql.ALL, *VERSION_DIMENSIONS],
        bucket_start__gte=since,
    ).values_list("dimension", "value", "traces", "first_seen_at", "last_seen_at")
    total = 0
    seen = {d: {} for d in VERSION_DIMENSIONS}
    for dimension, value, traces, first, last in rows:
        if dimension == metrics_sql.ALL:
            total += traces
            continue
        entry = seen[dimension].setdefault(
            value, {"value": value, "traces": 0, "first_seen_at": first, "last_seen_at": last}
        )
        entry["traces"] += traces
        entry["first_seen_at"] = min(filter(None, (entry["first_seen_at"], first)), default=None)
        entry["last_seen_at"] = max(filter(None, (entry["last_seen_at"], last)), default=None)
    result = {"since": since, "traces": total}
    for dimension, entries in seen.items():
        for entry in entries.values():
            entry["share"] = _ratio(entry["traces"], total, 4)
        result[VERSION_DIMENSIONS[dimension]] = sorted(
            entries.values(), key=lambda e: (-e["traces"], e["value"])
        )
    return result
