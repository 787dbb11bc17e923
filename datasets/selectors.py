"""Reads for golden sets."""

import math
import statistics

from django.conf import settings
from django.db.models import F, Q

from triage.models import Cluster, QueueItem

from .models import Case, GoldenSetVersion


def case_as_json(case):
    return {
        "case_id": case.case_id,
        "input": case.input,
        "expected": case.expected,
        "criteria": case.criteria,
        "tags": case.tags,
        "failure_mode": case.failure_mode,
        "split": case.split,
        "source": case.source,
    }


def queue_item_default_input(item):
    """The scrubbed input of the first trace's root run, else the first scrubbed comment."""
    for trace in item.scrubbed.get("traces", []):
        for run in trace["runs"]:
            if not run["parent_run_id"]:
                return run["inputs"]
    comments = item.scrubbed.get("comments", [])
    return {"comment": comments[0]["text"]} if comments else {}


def version_resolve(*, golden_set, ref):
    """A ref is a version number, `latest`, a tag, or `sha256:<digest>`."""
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set)
    if ref == "latest":
        return versions.order_by("-number").first()
    if ref.isdigit():
        return versions.filter(number=int(ref)).first()
    if ref.startswith("sha256:"):
        return versions.filter(digest=ref).first()
    # A set has few versions; scanning them keeps tag lookup the same on SQLite and PostgreSQL.
    return next((v for v in versions.order_by("-number") if ref in v.tags), None)


def _hours_stats(hours):
    hours = sorted(hours)
    if not hours:
        return {"median_hours": None, "p90_hours": None, "max_hours": None}
    return {
        "median_hours": statistics.median(hours),
        "p90_hours": hours[math.ceil(0.9 * len(hours)) - 1],  # nearest rank
        "max_hours": hours[-1],
    }


def _hours_between(start, end):
    if start is None or end is None:
        return None
    return max((end - start).total_seconds() / 3600, 0.0)


def time_to_eval_summary(*, cases, sla_hours):
    """Time-to-eval of published cases: spread, and how many P0s made the SLA."""
    cases = [c for c in cases if c.time_to_eval_hours is not None]
    p0 = [c for c in cases if "p0" in c.tags]
    return {
        "published_cases": len(cases),
        **_hours_stats(c.time_to_eval_hours for c in cases),
        "p0_cases": len(p0),
        "p0_within_sla": sum(1 for c in p0 if c.time_to_eval_hours <= sla_hours),
    }


# Where a case's hours go: (key, label, start, end) along its lineage.
TIME_TO_EVAL_STAGES = [
    ("triage", "Complaint → in queue", "first_feedback_at", "queued_at"),
    ("review", "In queue → labelled", "queued_at", "labelled_at"),
    ("promote", "Labelled → promoted", "labelled_at", "created_at"),
    ("publish", "Promoted → published", "created_at", "first_published_at"),
]


def time_to_eval_report(*, project, since, now, sla_hours):
    """The project's time-to-eval since `since`: overall, per stage, and the open P0 clock."""
    cases = list(
        Case.objects.filter(
            golden_set__project=project,
            first_published_at__gte=since,
            first_feedback_at__isnull=False,
        ).annotate(queued_at=F("queue_item__created_at"), labelled_at=F("queue_item__labelled_at"))
    )
    open_p0 = open_p0_items(project=project)
    stages = []
    for key, label, start, end in TIME_TO_EVAL_STAGES:
        spans = [_hours_between(getattr(c, start), getattr(c, end)) for c in cases]
        spans = [h for h in spans if h is not None]
        stages.append({"stage": key, "label": label, "cases": len(spans), **_hours_stats(spans)})
    return {
        "since": since,
        "sla_hours": sla_hours,
        **time_to_eval_summary(cases=cases, sla_hours=sla_hours),
        "stages": stages,
        "open_p0_total": open_p0.count(),
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
            cluster__category__in=settings.TRIAGE_P0_CATEGORIES,
            cluster__kind=Cluster.Kind.ISSUE,
            cluster__first_seen_at__isnull=False,
        )
        .filter(
            Q(status__in=[QueueItem.Status.PENDING, QueueItem.Status.CLAIMED])
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
        "hours_left": sla_hours - _hours_between(item.cluster.first_seen_at, now),
    }
