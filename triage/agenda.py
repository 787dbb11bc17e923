"""The weekly lap: the triage meeting's agenda, from the product's own data."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum

from datasets.models import Case, CaseResult

from .incidents import incident_proof
from .models import Incident, MetricRollup, QueueItem
from .services import NotClaimant, StaleEdit, queue_item_claim, queue_item_label
from .time_to_eval import open_p0_items

TOP_ITEMS = 10
# Production-sourced cases: what users hurt on, not imports.
PRODUCTION_SOURCES = ("thumbs-down-", "auto-flag-", "drift-", "incident-")
MEETING_DECISIONS = [
    (QueueItem.Decision.ADD_TO_EVAL, "Add eval"),
    (QueueItem.Decision.FIX_NOW, "Fix now"),
    (QueueItem.Decision.KNOWN_ISSUE, "Known"),
    (QueueItem.Decision.WONT_FIX, "Won't fix"),
]


def _week_figures(project, start, end):
    results = CaseResult.objects.filter(
        results_run__golden_set__project=project, created_at__gte=start, created_at__lt=end
    ).aggregate(runs=Count("pk"), passed=Count("pk", filter=Q(passed=True)))
    traffic = MetricRollup.objects.filter(
        project=project, granularity="day", dimension="all",
        bucket_start__gte=start, bucket_start__lt=end,
    ).aggregate(traces=Sum("traces"), cost=Sum("cost"), successes=Sum("successes"))  # fmt: skip
    traces = traffic["traces"] or 0
    return {
        "pass_rate": results["passed"] / results["runs"] if results["runs"] else None,
        "results": results["runs"],
        "cost_per_trace": float(traffic["cost"] or 0) / traces if traces else None,
        "success_rate": (traffic["successes"] or 0) / traces if traces else None,
        "traces": traces,
    }


def weekly_agenda(*, project, week_start):
    week_end = week_start + timedelta(days=7)
    top = list(
        QueueItem.objects.filter(
            project=project,
            status__in=[
                QueueItem.Status.PENDING,
                QueueItem.Status.SKIPPED,
                QueueItem.Status.CLAIMED,
            ],
        )
        .select_related("cluster", "claimed_by")
        .order_by("-score", "-pk")[:TOP_ITEMS]
    )
    followups = []
    for incident in (
        Incident.objects.filter(project=project)
        .exclude(status=Incident.Status.CLOSED)
        .order_by("opened_at")
    ):
        proof = incident_proof(incident)
        if not proof or not all(ok for _, ok in proof):
            missing = [case_id for case_id, ok in proof if not ok]
            followups.append({"incident": incident, "cases_not_passing": missing})
    added = Case.objects.filter(
        golden_set__project=project, created_at__gte=week_start, created_at__lt=week_end
    )
    production = added.filter(
        Q(*[Q(source__startswith=p) for p in PRODUCTION_SOURCES], _connector=Q.OR)
    ).count()
    low, high = settings.TRIAGE_WEEKLY_CASE_TARGET
    action = open_p0_items(project=project).first() or next(
        (i for i in top if i.cluster.is_p0), top[0] if top else None
    )
    return {
        "top_items": top,
        "decisions": MEETING_DECISIONS,
        "incident_followups": followups,
        "this_week": _week_figures(project, week_start, week_end),
        "last_week": _week_figures(project, week_start - timedelta(days=7), week_start),
        "cases_added": added.count(),
        "production_cases_added": production,
        "case_target": (low, high),
        "case_target_met": production >= low,
        "action_item": action,
    }


class MeetingLabelError(Exception):
    pass


def weekly_label(*, item, decision, owner):
    """The meeting labels an item in place and names its owner: the owner takes the item
    (unless someone else is reviewing it right now) and the label is theirs."""
    if decision not in dict(MEETING_DECISIONS):
        raise MeetingLabelError(f"Unknown decision {decision!r}.")
    if item.status != QueueItem.Status.LABELLED and not queue_item_claim(item=item, user=owner):
        holder = item.claimed_by.username if item.claimed_by else "someone"
        raise MeetingLabelError(f"{holder} is reviewing this item right now; ask them.")
    item.refresh_from_db()
    try:
        return queue_item_label(item=item, user=owner, version=item.version, decision=decision)
    except (StaleEdit, NotClaimant) as exc:
        raise MeetingLabelError(str(exc)) from exc
