"""Reads for the health and leadership pages: rollup series shaped into charts, eval
coverage growth and the time-to-eval trend per week."""

import statistics
from datetime import UTC, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from datasets.models import Case

from . import charts, metrics, metrics_sql
from .models import Alert, MetricRollup

MAX_SERIES = 6  # the biggest slices get a line; the table lists the rest's count


def _days(since, days):
    return [since + timedelta(days=i) for i in range(days)]


# (key, title, unit, the rollup_rates field, axis max or None)
HEALTH_CHARTS = (
    ("success", "Task success rate", "percent", "success_rate", 1.0),
    ("thumbs_down", "Thumbs-down rate", "percent", "thumbs_down_rate", None),
    ("latency", "Latency p95, end to end", "ms", "latency_p95_ms", None),
    ("cost", "Cost per successful task", "dollars", "cost_per_success", None),
    ("tool_errors", "Tool-error rate", "percent", "tool_error_rate", None),
    ("breaker", "Circuit-breaker rate", "percent", "breaker_rate", None),
)


def health_charts(*, project, days, by, now=None):
    """The health page's charts: one line per slice (the biggest MAX_SERIES) per figure.
    With no slicing the latency chart shows p50 and p95."""
    report = metrics.metrics_series(project=project, days=days, by=by, now=now)
    day_list = _days(report["since"], days)
    labels = [d.strftime("%b %-d") for d in day_list]
    shown = report["series"][:MAX_SERIES]

    def values(entry, field):
        by_day = {d["day"]: d[field] for d in entry["days"]}
        return [by_day.get(d) for d in day_list]

    def name(entry):
        return entry["value"] or "(none)" if by != metrics_sql.ALL else "All traffic"

    built = []
    for key, title, unit, field, top in HEALTH_CHARTS:
        series = [(name(e), values(e, field)) for e in shown]
        if key == "latency" and by == metrics_sql.ALL and shown:
            title = "Latency p50 and p95, end to end"
            series = [("p50", values(shown[0], "latency_p50_ms")), ("p95", series[0][1])]
        built.append(
            charts.line_chart(
                key=key, title=title, unit=unit, x_labels=labels, series=series, max_value=top
            )
        )
    return {
        "charts": built,
        "slices": [{"value": e["value"], "traces": e["traces"]} for e in report["series"]],
        "hidden_slices": max(0, len(report["series"]) - MAX_SERIES),
    }


def latest_totals(*, project, now=None):
    """Today's figures for all traffic (the last daily rollup), for the headline numbers."""
    now = now or timezone.now()
    row = (
        MetricRollup.objects.filter(
            project=project,
            granularity=MetricRollup.Granularity.DAY,
            dimension=metrics_sql.ALL,
            bucket_start__lte=now,
        )
        .order_by("-bucket_start")
        .first()
    )
    if row is None:
        return None
    return {
        "day": row.bucket_start.date(),
        "computed_at": row.computed_at,
        **metrics.rollup_rates(row),
    }


def _week_start(moment):
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def leadership_report(*, project, weeks=12, now=None):
    """Week by week: success rate, cost per successful task, eval cases per golden set and
    the share that came from production feedback, time to eval."""
    now = now or timezone.now()
    this_week = _week_start(now)
    week_list = [this_week - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    labels = [w.strftime("%b %-d") for w in week_list]
    index = {w: i for i, w in enumerate(week_list)}

    totals = [dict.fromkeys(("traces", "judged", "successes", "cost"), 0) for _ in week_list]
    for day, traces, judged, successes, cost in MetricRollup.objects.filter(
        project=project,
        granularity=MetricRollup.Granularity.DAY,
        dimension=metrics_sql.ALL,
        bucket_start__date__gte=week_list[0],
    ).values_list("bucket_start", "traces", "judged", "successes", "cost"):
        week = index.get(_week_start(day))
        if week is not None:
            for name, value in (("traces", traces), ("judged", judged),
                                ("successes", successes), ("cost", float(cost))):  # fmt: skip
                totals[week][name] += value
    success = [t["successes"] / t["judged"] if t["judged"] else None for t in totals]
    cost = [
        t["cost"] * t["judged"] / (t["traces"] * t["successes"]) if t["successes"] else None
        for t in totals
    ]

    # Cases per golden set and from production, cumulative at each week's end.
    added = (
        Case.objects.filter(golden_set__project=project)
        .annotate(week=TruncWeek("created_at"))
        .values("golden_set__slug", "week")
        .annotate(n=Count("pk"), production=Count("pk", filter=Q(cluster__isnull=False)))
        .order_by()
    )
    per_set, production_total, all_total = {}, [0] * weeks, [0] * weeks
    for row in added:
        week = row["week"].date() if hasattr(row["week"], "date") else row["week"]
        counts = per_set.setdefault(row["golden_set__slug"], [0] * weeks)
        for i, w in enumerate(week_list):
            if week <= w:
                counts[i] += row["n"]
                production_total[i] += row["production"]
                all_total[i] += row["n"]
    biggest = sorted(per_set, key=lambda s: (-per_set[s][-1], s))[:MAX_SERIES]
    share = [p / a if a else None for p, a in zip(production_total, all_total, strict=True)]

    hours = [[] for _ in week_list]
    for published, first in Case.objects.filter(
        golden_set__project=project,
        first_published_at__date__gte=week_list[0],
        first_feedback_at__isnull=False,
    ).values_list("first_published_at", "first_feedback_at"):
        week = index.get(_week_start(published))
        if week is not None:
            hours[week].append(max((published - first).total_seconds() / 3600, 0.0))
    tte = [statistics.median(h) if h else None for h in hours]

    # Incidents: symptom-alert episodes fired, per week.
    incidents = [0] * weeks
    for fired_at in Alert.objects.filter(
        project=project, fired_at__date__gte=week_list[0]
    ).values_list("fired_at", flat=True):
        week = index.get(_week_start(fired_at))
        if week is not None:
            incidents[week] += 1

    def chart(key, title, unit, series, top=None):
        return charts.line_chart(
            key=key, title=title, unit=unit, x_labels=labels, series=series, max_value=top
        )

    return {
        "weeks": weeks,
        "cases_total": all_total[-1],
        "incidents_total": sum(incidents),
        "production_share": share[-1],
        "charts": [
            chart(
                "success", "Task success rate per week", "percent", [("All traffic", success)], 1.0
            ),
            chart("cost", "Cost per successful task per week", "dollars", [("All traffic", cost)]),
            chart(
                "incidents",
                "Incidents per week (alerts fired)",
                "number",
                [("Incidents", incidents)],
            ),
            chart(
                "coverage",
                "Eval cases per golden set",
                "number",
                [(s, per_set[s]) for s in biggest],
            ),
            chart(
                "production_share",
                "Share of eval cases from production feedback",
                "percent",
                [("From production", share)],
                1.0,
            ),
            chart("time_to_eval", "Median time to eval (hours)", "number", [("Median", tte)]),
        ],
    }
