"""Time to eval: hours from a cluster's first complaint to the first published version
holding its case, where those hours go, and the P0 complaints still on the clock."""

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery

from datasets.models import Case, CaseResult
from datasets.selectors import hours_between, hours_stats, time_to_eval_summary

from .models import Cluster, QueueItem
from .sql import AtLeast, count_capped


def sla_hours_left(first_seen_at, *, now, sla_hours=None):
    """Hours until a P0's time-to-eval SLA runs out, counted from its first complaint;
    negative once it is missed. The one place this is computed."""
    sla_hours = settings.TRIAGE_P0_SLA_HOURS if sla_hours is None else sla_hours
    return sla_hours - hours_between(first_seen_at, now)


# Where a case's hours go: (key, label, start, end) along its lineage.
TIME_TO_EVAL_STAGES = [
    ("triage", "Complaint → in queue", "first_feedback_at", "queued_at"),
    ("review", "In queue → labelled", "queued_at", "labelled_at"),
    ("promote", "Labelled → promoted", "labelled_at", "created_at"),
    ("publish", "Promoted → published", "created_at", "first_published_at"),
    ("prove", "Published → first pass", "first_published_at", "first_passed_at"),
]


def time_to_eval_report(*, project, since, now, sla_hours):
    """The project's time-to-eval since `since`: overall, per stage, and the open P0 clock."""
    cases = list(
        Case.objects.filter(
            golden_set__project=project,
            first_published_at__gte=since,
            first_feedback_at__isnull=False,
        ).annotate(
            queued_at=F("queue_item__created_at"),
            labelled_at=F("queue_item__labelled_at"),
            first_passed_at=Subquery(
                CaseResult.objects.filter(
                    results_run__golden_set=OuterRef("golden_set"),
                    case_id=OuterRef("case_id"),
                    passed=True,
                )
                .order_by("created_at")
                .values("created_at")[:1]
            ),
        )
    )
    open_p0 = open_p0_items(project=project)
    # Capped: an exact count of a big backlog cost ~420 ms at 1 M queue items.
    open_p0_total = count_capped(open_p0, settings.TRIAGE_COUNT_CAP)
    stages = []
    for key, label, start, end in TIME_TO_EVAL_STAGES:
        spans = [hours_between(getattr(c, start), getattr(c, end)) for c in cases]
        spans = [h for h in spans if h is not None]
        stages.append({"stage": key, "label": label, "cases": len(spans), **hours_stats(spans)})
    return {
        "since": since,
        "sla_hours": sla_hours,
        **time_to_eval_summary(cases=cases, sla_hours=sla_hours),
        "stages": stages,
        "open_p0_total": open_p0_total,
        "open_p0_total_capped": isinstance(open_p0_total, AtLeast),
        "open_p0": [
            open_p0_view(item, now=now, sla_hours=sla_hours) for item in open_p0[:OPEN_P0_SHOWN]
        ],
    }


OPEN_P0_SHOWN = 50  # the most urgent; the page and API give the total beside them


def open_p0_items(*, project):
    """Queue items of P0 complaints still on their way to an eval, most urgent (oldest
    first complaint) first: in the queue (pending or under review) or labelled "add to
    eval", and not yet in a published version."""
    return (
        QueueItem.objects.filter(
            project=project,
            # Redundant with the item's project, but lets the planner walk cluster_p0_clock_idx
            # in first-seen order and stop at the first 50 (not sort a third of the queue).
            cluster__project=project,
            cluster__category__in=settings.TRIAGE_P0_CATEGORIES,
            cluster__kind=Cluster.Kind.ISSUE,
            cluster__first_seen_at__isnull=False,
        )
        .filter(
            Q(
                status__in=[
                    QueueItem.Status.PENDING,
                    QueueItem.Status.CLAIMED,
                    QueueItem.Status.SKIPPED,
                ]
            )
            | Q(status=QueueItem.Status.LABELLED, decision=QueueItem.Decision.ADD_TO_EVAL)
        )
        .exclude(cluster__cases__first_published_at__isnull=False)
        .select_related("cluster")
        .defer("scrubbed")
        .order_by("cluster__first_seen_at", "pk")
    )


def open_p0_view(item, *, now, sla_hours):
    """One open P0 as the page, the API and the alerts show it; `hours_left` is negative
    once the SLA is missed."""
    return {
        "item_id": item.pk,
        "cluster_id": item.cluster_id,
        "category": item.cluster.category,
        "reports": item.cluster.event_count,
        "status": item.status,
        "first_seen_at": item.cluster.first_seen_at,
        "hours_left": sla_hours_left(item.cluster.first_seen_at, now=now, sla_hours=sla_hours),
    }
