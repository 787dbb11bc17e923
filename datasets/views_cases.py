"""One case's page: its fields, revision history and lineage; leads edit it (a new
revision, PII re-scrubbed by the service), retire, quarantine or restore it, move its split."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import membership_get

from . import selectors, services
from .forms import CaseEditForm, CaseStatusForm, SplitForm
from .views import golden_set_get, lead_required

STATUS_VERBS = {"active": "Restored", "retired": "Retired", "quarantined": "Quarantined"}


def _case_get(membership, slug, case_id):
    golden_set = golden_set_get(membership, slug)
    case = get_object_or_404(
        golden_set.cases.select_related("queue_item", "first_published_version"), case_id=case_id
    )
    return golden_set, case


def _render(request, membership, golden_set, case, form=None, status=200):
    context = {
        "project": membership.project,
        "membership": membership,
        "golden_set": golden_set,
        "case": case,
        "revisions": selectors.case_revisions(case=case),
        "latest_number": selectors.latest_version_number(golden_set=golden_set),
        "edit_form": form or CaseEditForm.for_case(case),
        "statuses": [s for s in STATUS_VERBS if s != case.status],
        "other_split": "holdout" if case.split == "dev" else "dev",
        "nav": "golden",
    }
    return render(request, "datasets/case.html", context, status=status)


@login_required
def case_detail(request, project_slug, slug, case_id):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_set, case = _case_get(membership, slug, case_id)
    return _render(request, membership, golden_set, case)


@login_required
@require_POST
def case_edit(request, project_slug, slug, case_id):
    membership = membership_get(user=request.user, project_slug=project_slug)
    lead_required(membership)
    golden_set, case = _case_get(membership, slug, case_id)
    form = CaseEditForm(request.POST)
    if not form.is_valid():
        return _render(request, membership, golden_set, case, form=form, status=400)
    before = case.revision
    case = services.case_update(case=case, changes=form.cleaned_data, user=request.user)
    if case.revision == before:
        messages.info(request, "Nothing changed.")
    else:
        messages.success(request, f"Saved revision {case.revision}.")
    return redirect("datasets:case", project_slug=project_slug, slug=slug, case_id=case_id)


def _one_field_change(request, project_slug, slug, case_id, form_class, field):
    membership = membership_get(user=request.user, project_slug=project_slug)
    lead_required(membership)
    golden_set, case = _case_get(membership, slug, case_id)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"Invalid {field}: {' '.join(form.errors.get(field, []))}")
        return _render(request, membership, golden_set, case, status=400)
    value = form.cleaned_data[field]
    case = services.case_update(case=case, changes={field: value}, user=request.user)
    return case, value


@login_required
@require_POST
def case_status(request, project_slug, slug, case_id):
    result = _one_field_change(request, project_slug, slug, case_id, CaseStatusForm, "status")
    if not isinstance(result, tuple):
        return result
    case, value = result
    messages.success(
        request,
        f"{STATUS_VERBS[value]} {case.case_id} (revision {case.revision}); "
        "the next version will reflect it, published versions do not change.",
    )
    return redirect("datasets:case", project_slug=project_slug, slug=slug, case_id=case_id)


@login_required
@require_POST
def case_split(request, project_slug, slug, case_id):
    result = _one_field_change(request, project_slug, slug, case_id, SplitForm, "split")
    if not isinstance(result, tuple):
        return result
    case, value = result
    messages.success(request, f"Moved {case.case_id} to {value} (revision {case.revision}).")
    return redirect("datasets:case", project_slug=project_slug, slug=slug, case_id=case_id)
