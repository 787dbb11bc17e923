"""The project's label form (rubric) for leads, and the labels export that carries it.

Beside views.py, which is near the size where a module becomes a package.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import membership_get

from . import selectors, services
from .forms import RubricFieldForm
from .models import QueueItem


def _lead(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    if request.method == "POST" and not membership.can_publish:
        raise PermissionDenied("Only leads configure the label form.")
    return membership


def _page(request, membership, form, status=200):
    context = {
        "project": membership.project,
        "membership": membership,
        "fields": selectors.rubric_fields(project=membership.project),
        "archived": selectors.rubric_fields(project=membership.project, active=False),
        "form": form,
        "nav": "queue",
    }
    return render(request, "triage/rubric.html", context, status=status)


@login_required
def rubric(request, project_slug):
    """The rubric: decisions stay; leads add score fields reviewers fill in beside them."""
    membership = _lead(request, project_slug)
    if request.method != "POST":
        return _page(request, membership, RubricFieldForm())
    form = RubricFieldForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            field = services.rubric_field_create(
                project=membership.project,
                label=data["label"],
                kind=data["kind"],
                choices=data["choices"].split(","),
                min_value=data["min_value"],
                max_value=data["max_value"],
                instructions=data["instructions"],
                required=data["required"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added “{field.label}” to the label form.")
            return redirect("triage:rubric", project_slug=project_slug)
    return _page(request, membership, form, status=400)


@login_required
@require_POST
def rubric_archive(request, project_slug, key):
    membership = _lead(request, project_slug)
    if services.rubric_field_archive(project=membership.project, key=key):
        messages.success(request, "Removed from the label form; given scores are kept.")
    return redirect("triage:rubric", project_slug=project_slug)


@login_required
def labels_export(request, project_slug):
    """Every label as JSON lines: decision, failure modes, criteria and rubric scores."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    items = (
        QueueItem.objects.filter(project=membership.project, status=QueueItem.Status.LABELLED)
        .select_related("cluster", "labelled_by")
        .defer("scrubbed")
        .order_by("pk")
    )

    def lines():
        for item in items.iterator(chunk_size=500):
            row = {
                "item_id": item.pk,
                "cluster_id": item.cluster_id,
                "category": item.cluster.category,
                "decision": item.decision,
                "failure_modes": item.failure_modes,
                "scores": item.scores,
                "criteria": item.criteria,
                "expected_output": item.expected_output,
                "labelled_by": item.labelled_by.username if item.labelled_by else None,
                "labelled_at": item.labelled_at.isoformat() if item.labelled_at else None,
                "version": item.version,
            }
            yield json.dumps(row, ensure_ascii=False) + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="{project_slug}-labels.jsonl"'
    return response
