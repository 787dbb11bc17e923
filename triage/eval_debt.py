"""Eval debt: what the team owes its golden sets, each row with a link to pay it down."""

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from datasets.models import Case, CaseResult

from . import ranking
from .incidents import REPEAT_CHECK_DAYS
from .models import Cluster, Incident, QueueItem
from .time_to_eval import open_p0_items, open_p0_view

ROWS = 100  # per list


def _incident_row(incident, reason):
    kwargs = {"project_slug": incident.project.slug, "pk": incident.pk}
    return {
        "incident_id": incident.pk,
        "title": incident.title,
        "severity": incident.severity,
        "reason": reason,
        "url": reverse("triage:incident", kwargs=kwargs),
    }


def _item_url(project, item_id):
    return reverse("triage:item", kwargs={"project_slug": project.slug, "pk": item_id})


def eval_debt(*, project, now=None):
    now = now or timezone.now()
    incidents = Incident.objects.filter(project=project).select_related("project")

    without_cases = [
        _incident_row(i, "No golden case linked yet.")
        for i in incidents.filter(cases=None).exclude(status=Incident.Status.CLOSED)[:ROWS]
    ]
    checks_due = [
        _incident_row(i, "30-day check: did its cases catch a repeat? Confirm.")
        for i in incidents.filter(
            status=Incident.Status.CLOSED,
            closed_at__lte=now - timedelta(days=REPEAT_CHECK_DAYS),
            repeat_check_confirmed_at=None,
        )[:ROWS]
    ]
    unpublished = [
        {
            "case_id": c.case_id,
            "golden_set": c.golden_set.slug,
            "promoted_at": c.created_at,
            "url": reverse(
                "datasets:detail", kwargs={"project_slug": project.slug, "slug": c.golden_set.slug}
            ),
        }
        for c in Case.objects.filter(golden_set__project=project, first_published_at=None)
        .select_related("golden_set")
        .order_by("created_at")[:ROWS]
    ]
    past_sla = []
    for item in open_p0_items(project=project)[: ROWS * 2]:
        view = open_p0_view(item, now=now, sla_hours=settings.TRIAGE_P0_SLA_HOURS)
        if view["hours_left"] < 0:
            past_sla.append(
                {
                    "item_id": item.pk,
                    "category": view["category"],
                    "hours_overdue": round(-view["hours_left"], 1),
                    "url": _item_url(project, item.pk),
                }
            )
    return {
        "incidents_without_cases": without_cases,
        "cases_unpublished": unpublished,
        "items_past_sla": past_sla[:ROWS],
        "known_issues_rising": _known_issues_rising(project, now),
        "quarantined_cases": _quarantined(project),
        "holdout_regressions": _holdout_regressions(project),
        "repeat_checks_due": checks_due,
    }


def _known_issues_rising(project, now):
    window = timedelta(hours=settings.TRIAGE_REGRESSION_WINDOW_HOURS)
    rows = []
    for cluster in Cluster.objects.filter(
        project=project, status=Cluster.Status.KNOWN_ISSUE, known_issue_since__isnull=False
    )[:ROWS]:
        recent = cluster.events.filter(created_at__gte=max(now - window, cluster.known_issue_since))
        reason = ranking.regression_check(
            recent=recent.count(),
            baseline_per_window=cluster.baseline_per_window or 0.0,
            factor=settings.TRIAGE_REGRESSION_FACTOR,
            min_reports=settings.TRIAGE_REGRESSION_MIN_REPORTS,
        )
        if reason:
            item = QueueItem.objects.filter(cluster=cluster).values_list("pk", flat=True).first()
            rows.append(
                {
                    "cluster_id": cluster.pk,
                    "category": cluster.category,
                    "reason": reason,
                    "url": _item_url(project, item) if item else None,
                }
            )
    return rows


def _quarantined(project):
    """Flaky cases taken out of new versions until someone fixes and restores them."""
    return [
        {
            "case_id": c.case_id,
            "golden_set": c.golden_set.slug,
            "url": reverse("datasets:case", args=[project.slug, c.golden_set.slug, c.case_id]),
        }
        for c in Case.objects.filter(golden_set__project=project, status=Case.Status.QUARANTINED)
        .select_related("golden_set")
        .order_by("case_id")[:ROWS]
    ]


def _holdout_regressions(project):
    """Clusters proven fixed whose holdout case failed again, still waiting in the queue."""
    rows = []
    for item in QueueItem.objects.filter(
        project=project,
        cluster__status=Cluster.Status.REGRESSED,
        status=QueueItem.Status.PENDING,
    ).select_related("cluster")[:ROWS]:
        failing = list(
            CaseResult.objects.filter(
                results_run__golden_set__project=project,
                case_id__in=item.cluster.cases.values_list("case_id", flat=True),
                split="holdout",
                passed=False,
            )
            .order_by("-created_at")
            .values_list("case_id", flat=True)[:5]
        )
        rows.append(
            {
                "cluster_id": item.cluster_id,
                "item_id": item.pk,
                "reason": item.cluster.queue_reason,
                "failing_cases": sorted(set(failing)),
                "url": _item_url(project, item.pk),
            }
        )
    return rows
