"""Production-health pages: /p/<project>/health/ (for the people who run the feature) and
/p/<project>/overview/ (for leadership). Both read the rollup, never the runs."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.query_params import query_int
from accounts.selectors import membership_get, user_projects

from . import alerts, metrics, metrics_sql, overview
from .models import TriageRun

HEALTH_WINDOWS = (7, 14, 30, 90)
SLICE_CHOICES = (
    (metrics_sql.ALL, "All traffic"),
    ("model_id", "Model"),
    ("prompt_hash", "Prompt hash"),
    ("customer_tier", "Customer tier"),
    ("locale", "Locale"),
    ("feature_flag", "Feature flag"),
)


def _choice(value, allowed, default):
    return value if value in allowed else default


@login_required
def health(request, project_slug):
    """Is it working, and what does it cost? Trends per day, sliceable, numbers beside them."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    project = membership.project
    days = _choice(query_int(request.GET, "days", default=0), HEALTH_WINDOWS, 14)
    by = _choice(request.GET.get("by", ""), dict(SLICE_CHOICES), metrics_sql.ALL)
    versions = metrics.versions_in_production(project=project)
    context = {
        "project": project,
        "projects": user_projects(user=request.user),
        "membership": membership,
        "nav": "health",
        "days": days,
        "windows": HEALTH_WINDOWS,
        "by": by,
        "by_label": dict(SLICE_CHOICES)[by],
        "slice_choices": SLICE_CHOICES,
        "totals": overview.latest_totals(project=project),
        "versions": versions,
        "versions_tables": [
            ("Prompt hashes", versions["prompt_hashes"]),
            ("Model ids", versions["model_ids"]),
        ],
        "max_series": overview.MAX_SERIES,
        "traffic_drift": TriageRun.objects.filter(project=project, kind="traffic_drift")
        .order_by("-pk")
        .first(),
        "alerts": [
            {"alert": a, "title": alerts.LABELS.get(a.rule, a.rule)}
            for a in alerts.alert_history(project=project)
        ],
        **overview.health_charts(project=project, days=days, by=by),
    }
    return render(request, "triage/health.html", context)


@login_required
def leadership_overview(request, project_slug):
    """Week by week: is the feature getting better, cheaper, and better covered by evals?"""
    membership = membership_get(user=request.user, project_slug=project_slug)
    project = membership.project
    context = {
        "project": project,
        "projects": user_projects(user=request.user),
        "membership": membership,
        "nav": "overview",
        "totals": overview.latest_totals(project=project),
        "report": overview.leadership_report(project=project),
    }
    return render(request, "triage/overview.html", context)
