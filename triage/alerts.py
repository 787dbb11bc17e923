"""Symptom alerts: wake people when users hurt, not on every failed session.

Each rule (defaults in TRIAGE_ALERT_RULES, a project's own values in AlertRule) turns a
few set-based figures into verdicts per key: breaching, fine, or no verdict (too little
traffic to say). An episode fires once when its rule first breaches (`alert.firing` to the
webhook outbox, and email), stays open while it keeps breaching, and resolves when it
stops (`alert.resolved`); a later breach is a new episode. The partial unique index on
Alert keeps two evaluators from opening the same episode twice.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project
from feedback.models import FeedbackEvent, Run
from webhooks.services import public_url, webhook_emit

from . import flag_rules, metrics, metrics_sql
from .models import Alert, AlertRule, MetricRollup, QueueItem

logger = logging.getLogger(__name__)

RULES = (
    "success_rate_slo",
    "spend_velocity",
    "breaker_rate",
    "tool_error_growth",
    "queue_backlog",
    "thumbs_down_spike",
)
LABELS = {
    "success_rate_slo": "Task success below its SLO",
    "spend_velocity": "Spend over budget",
    "breaker_rate": "Circuit-breaker rate above its baseline",
    "tool_error_growth": "Tool-error rate doubled week over week",
    "queue_backlog": "Review queue backing up",
    "thumbs_down_spike": "Thumbs-down spike for one prompt",
}


def rule_params(*, project):
    """{rule: params} for a project: the settings' defaults, then its AlertRule rows."""
    params = {rule: dict(settings.TRIAGE_ALERT_RULES[rule]) for rule in RULES}
    for row in AlertRule.objects.filter(project=project, rule__in=RULES):
        params[row.rule].update(row.params, enabled=row.enabled)
    return params


# --- verdicts (pure): figures in, {(rule, key): (breaching, value, threshold, summary)} ---


def _rate(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def rule_verdicts(params, figures):
    """`figures` (see alert_figures): plain numbers. A rule missing from the result has no
    verdict this cycle (too little traffic): its episode, if any, stays as it is."""
    out = {}
    p = params["success_rate_slo"]
    now = figures["success_window"]
    if p["enabled"] and now["judged"] >= p["min_judged"]:
        rate = now["successes"] / now["judged"]
        out[("success_rate_slo", "")] = (
            rate < p["slo"],
            rate,
            p["slo"],
            f"task success {rate:.1%} over the last {p['window_minutes']} min "
            f"(SLO {p['slo']:.1%}, {now['judged']} judged)",
        )
    p = params["spend_velocity"]
    if p["enabled"]:
        per_hour = figures["hour"]["cost"]
        out[("spend_velocity", "")] = (
            per_hour > p["dollars_per_hour"],
            per_hour,
            p["dollars_per_hour"],
            f"${per_hour:,.2f} in the last hour (budget ${p['dollars_per_hour']:,.2f}/h)",
        )
    p = params["breaker_rate"]
    hour, base = figures["hour"], figures["baseline"]
    if p["enabled"] and hour["traces"] >= p["min_traces"]:
        rate = _rate(hour["breaker_traces"], hour["traces"])
        limit = max(_rate(base["breaker_traces"], base["traces"]) * p["factor"], p["min_rate"])
        out[("breaker_rate", "")] = (
            rate > limit,
            rate,
            limit,
            f"circuit breaker in {rate:.1%} of traces in the last hour (limit {limit:.1%})",
        )
    p = params["tool_error_growth"]
    week, last = figures["week"], figures["last_week"]
    if p["enabled"] and min(week["traces"], last["traces"]) >= p["min_traces"]:
        rate = _rate(week["tool_error_traces"], week["traces"])
        before = _rate(last["tool_error_traces"], last["traces"])
        limit = max(before * p["factor"], p["min_rate"])
        out[("tool_error_growth", "")] = (
            rate >= limit,
            rate,
            limit,
            f"tool errors in {rate:.1%} of traces this week, {before:.1%} the week before",
        )
    p = params["queue_backlog"]
    if p["enabled"]:
        pending = figures["queue_pending"]
        out[("queue_backlog", "")] = (
            pending > p["max_pending"],
            float(pending),
            float(p["max_pending"]),
            f"{pending} items waiting for review (limit {p['max_pending']})",
        )
    p = params["thumbs_down_spike"]
    if p["enabled"]:
        for prompt, now in figures["prompt_hour"].items():
            if not prompt or now["traces"] < p["min_traces"]:
                continue
            base = figures["prompt_baseline"].get(prompt, {"traces": 0, "thumbs_down": 0})
            rate = _rate(now["thumbs_down"], now["traces"])
            limit = max(_rate(base["thumbs_down"], base["traces"]) * p["factor"], p["min_rate"])
            out[("thumbs_down_spike", prompt)] = (
                rate > limit,
                rate,
                limit,
                f"thumbs down on {rate:.1%} of prompt {prompt}'s traces in the last "
                f"{p['window_minutes']} min (limit {limit:.1%})",
            )
    return out


# --- figures (set-based reads) ------------------------------------------------------------

_COUNTS = ("traces", "judged", "successes", "thumbs_down", "breaker_traces", "tool_error_traces")


def _window(project, start, end, dimensions=(metrics_sql.ALL,)):
    """{dimension: {slice value: counts}} of production traffic in [start, end)."""
    found = metrics.metrics_slices(project=project, start=start, end=end, dimensions=dimensions)
    return {
        dimension: {r["value"]: {**{k: r[k] for k in _COUNTS}, "cost": float(r["cost"])}
                    for r in rows}
        for dimension, rows in found.items()
    }  # fmt: skip


def _rollup_sums(project, start, end, dimension=metrics_sql.ALL):
    rows = (
        MetricRollup.objects.filter(
            project=project,
            granularity=MetricRollup.Granularity.DAY,
            dimension=dimension,
            bucket_start__gte=start,
            bucket_start__lt=end,
        )
        .values("value")
        .annotate(**{k: Sum(k) for k in _COUNTS})
        .order_by()
    )
    return {r.pop("value"): r for r in rows}


def alert_figures(*, project, params, now):
    """Everything the rules read, in a handful of aggregate queries."""
    empty = dict.fromkeys((*_COUNTS, "cost"), 0)
    success_minutes = params["success_rate_slo"]["window_minutes"]
    spike_minutes = params["thumbs_down_spike"]["window_minutes"]
    today = metrics.bucket_floor(now, MetricRollup.Granularity.DAY)
    baseline_start = today - timedelta(days=params["breaker_rate"]["baseline_days"])
    prompt_base_start = today - timedelta(days=params["thumbs_down_spike"]["baseline_days"])
    week_start = today - timedelta(days=6)
    hour = _window(project, now - timedelta(hours=1), now, (metrics_sql.ALL, "prompt_hash"))
    if spike_minutes == 60:
        prompt_hour = hour["prompt_hash"]
    else:
        spike_start = now - timedelta(minutes=spike_minutes)
        prompt_hour = _window(project, spike_start, now, ("prompt_hash",))["prompt_hash"]
    success_start = now - timedelta(minutes=success_minutes)
    return {
        "success_window": _window(project, success_start, now)[metrics_sql.ALL].get("", empty),
        "hour": hour[metrics_sql.ALL].get("", empty),
        "baseline": _rollup_sums(project, baseline_start, today).get("", empty),
        "week": _rollup_sums(project, week_start, now).get("", empty),
        "last_week": _rollup_sums(project, week_start - timedelta(days=7), week_start).get(
            "", empty
        ),
        "queue_pending": QueueItem.objects.filter(
            project=project, status=QueueItem.Status.PENDING
        ).count(),
        "prompt_hour": prompt_hour,
        "prompt_baseline": _rollup_sums(project, prompt_base_start, today, "prompt_hash"),
    }


# --- episodes -------------------------------------------------------------------------------


def trace_url(trace_id):
    return settings.TRIAGE_TRACE_URL.format(
        public=settings.TRIAGE_PUBLIC_URL.rstrip("/"), trace_id=trace_id
    )


def alert_example(*, project, rule, key, since):
    """A trace for whoever is paged: the latest complaint in the window for the feedback
    rules, else the latest failed (then any) root run; with its session, prompt and model."""
    if rule in ("success_rate_slo", "thumbs_down_spike"):
        events = FeedbackEvent.objects.filter(
            project=project, created_at__gte=since, rating=FeedbackEvent.Rating.DOWN
        ).exclude(trace_id="")
        if key:
            events = events.filter(prompt_hash=key)
        event = events.order_by("-created_at", "-pk").first()
        if event is not None:
            return {
                "trace_id": event.trace_id,
                "trace_url": trace_url(event.trace_id),
                "session_id": event.session_id,
                "prompt_hash": event.prompt_hash,
                "model_id": event.model_id,
            }
    if rule == "queue_backlog":
        return {}
    roots = Run.objects.filter(project=project, parent_run_id="", start_time__gte=since)
    run = (
        roots.exclude(error="").order_by("-start_time").first()
        or roots.order_by("-start_time").first()
    )
    if run is None:
        return {}
    meta = run.metadata if isinstance(run.metadata, dict) else {}
    return {
        "trace_id": run.trace_id,
        "trace_url": trace_url(run.trace_id),
        "session_id": flag_rules.session_of({"metadata": meta}),
        "prompt_hash": str(meta.get("prompt_hash") or ""),
        "model_id": str(meta.get("model_id") or run.model or ""),
    }


def alert_payload(alert):
    """What the webhook and the email carry: ids, figures, links; never user text."""
    health = reverse("triage:health", kwargs={"project_slug": alert.project.slug})
    return {
        "project": alert.project.slug,
        "alert_id": alert.pk,
        "rule": alert.rule,
        "title": LABELS[alert.rule],
        "key": alert.key,
        "status": alert.status,
        "summary": alert.summary,
        "value": alert.value,
        "threshold": alert.threshold,
        "fired_at": alert.fired_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "session_id": alert.context.get("session_id", ""),
        "trace_id": alert.context.get("trace_id", ""),
        "trace_url": alert.context.get("trace_url", ""),
        "prompt_hash": alert.context.get("prompt_hash", ""),
        "model_id": alert.context.get("model_id", ""),
        "health_url": public_url(health) + "#alerts",
    }


def _announce(alert, event):
    payload = alert_payload(alert)
    webhook_emit(project=alert.project, event=event, payload=payload)
    recipients = settings.TRIAGE_ALERT_EMAILS
    if recipients:
        state = "FIRING" if event == "alert.firing" else "resolved"
        subject = f"[Triage {alert.project.slug}] {state}: {LABELS[alert.rule]}"
        if alert.key:
            subject += f" ({alert.key})"
        body = "\n".join(f"{k}: {v}" for k, v in payload.items() if v not in (None, ""))
        transaction.on_commit(
            lambda: send_mail(subject, body, None, recipients, fail_silently=True)
        )


def alerts_evaluate(*, project, now=None):
    """One evaluation cycle for a project: fire new episodes, resolve ended ones. Returns
    {"fired": [...], "resolved": [...]} as (rule, key) pairs."""
    now = now or timezone.now()
    params = rule_params(project=project)
    verdicts = rule_verdicts(params, alert_figures(project=project, params=params, now=now))
    firing = {(a.rule, a.key): a for a in Alert.objects.filter(project=project, status="firing")}
    # A per-prompt spike whose prompt saw no traffic this window is over.
    for rule, key in firing:
        if rule == "thumbs_down_spike" and (rule, key) not in verdicts:
            verdicts[(rule, key)] = (False, None, None, "")
    fired, resolved = [], []
    for (rule, key), (breaching, value, threshold, summary) in sorted(verdicts.items()):
        alert = firing.get((rule, key))
        if breaching and alert is None:
            if _fire(project, rule, key, value, threshold, summary, params, now):
                fired.append((rule, key))
        elif breaching:
            Alert.objects.filter(pk=alert.pk).update(value=value, last_evaluated_at=now)
        elif alert is not None:
            with transaction.atomic():
                changed = Alert.objects.filter(pk=alert.pk, status=Alert.Status.FIRING).update(
                    status=Alert.Status.RESOLVED, resolved_at=now, last_evaluated_at=now
                )
                if changed == 1:  # another evaluator may have resolved it already
                    alert.refresh_from_db()
                    _announce(alert, "alert.resolved")
                    resolved.append((rule, key))
    return {"fired": fired, "resolved": resolved}


def _fire(project, rule, key, value, threshold, summary, params, now):
    window = params.get(rule, {}).get("window_minutes", 60)
    context = alert_example(
        project=project, rule=rule, key=key, since=now - timedelta(minutes=window)
    )
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                project=project,
                rule=rule,
                key=key[:128],
                value=value,
                threshold=threshold,
                summary=summary[:300],
                context=context,
                fired_at=now,
                last_evaluated_at=now,
            )
            _announce(alert, "alert.firing")
    except IntegrityError:  # another evaluator opened this episode first
        return False
    return True


def alerts_evaluate_all(*, now=None):
    """The periodic task: every project, one cycle each."""
    totals = {"fired": 0, "resolved": 0}
    for project in Project.objects.all():
        result = alerts_evaluate(project=project, now=now)
        totals["fired"] += len(result["fired"])
        totals["resolved"] += len(result["resolved"])
    return totals


def alert_history(*, project, limit=20):
    return list(Alert.objects.filter(project=project).order_by("-fired_at", "-pk")[:limit])
