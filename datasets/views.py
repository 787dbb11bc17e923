from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import membership_get

from . import selectors, services
from .forms import PublishForm
from .models import GoldenSet


@login_required
def golden_set_list(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_sets = GoldenSet.objects.filter(project=membership.project).order_by("name")
    return render(
        request,
        "datasets/list.html",
        {
            "project": membership.project,
            "membership": membership,
            "golden_sets": golden_sets,
            "nav": "golden",
        },
    )


def _detail_context(membership, golden_set, form=None):
    return {
        "project": membership.project,
        "membership": membership,
        "golden_set": golden_set,
        "cases": golden_set.cases.select_related("first_published_version"),
        "versions": golden_set.versions.defer("body"),
        "time_to_eval": selectors.time_to_eval_summary(
            cases=golden_set.cases.all(), sla_hours=settings.TRIAGE_P0_SLA_HOURS
        ),
        "sla_hours": settings.TRIAGE_P0_SLA_HOURS,
        "publish_form": form or PublishForm(),
        "nav": "golden",
    }


@login_required
def golden_set_detail(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_set = get_object_or_404(GoldenSet, project=membership.project, slug=slug)
    return render(request, "datasets/detail.html", _detail_context(membership, golden_set))


@login_required
@require_POST
def golden_set_publish(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads can publish a version.")
    golden_set = get_object_or_404(GoldenSet, project=membership.project, slug=slug)
    form = PublishForm(request.POST)
    if form.is_valid():
        tag = form.cleaned_data["tag"]
        try:
            version = services.golden_set_version_publish(
                golden_set=golden_set,
                user=request.user,
                notes=form.cleaned_data["notes"],
                tags=[tag] if tag else [],
            )
        except services.PublishError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Published version {version.number} ({version.digest[:19]}…)."
            )
            return redirect("datasets:detail", project_slug=project_slug, slug=slug)
    return render(
        request, "datasets/detail.html", _detail_context(membership, golden_set, form), status=400
    )
