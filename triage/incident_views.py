"""Incident and eval-debt pages. Leads open, update and close incidents; everyone in the
project reads them. Every action is a plain form post."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.query_params import parse_int
from accounts.selectors import membership_get
from datasets.models import Case

from . import eval_debt, incidents
from .models import Incident, QueueItem

CHART_HEIGHT = 60


def _lead(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads open, change and close incidents.")
    return membership


def _n(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def _chart(hours):
    """Hourly complaint bars for an inline SVG (values also shown in text)."""
    top = max((h["complaints"] for h in hours), default=0) or 1
    width = max(len(hours), 1)
    return {
        "width": max(width * 10, 240),
        "height": CHART_HEIGHT,
        "bars": [
            {
                "x": i * 10,
                "h": round(CHART_HEIGHT * h["complaints"] / top, 1),
                "y": round(CHART_HEIGHT - CHART_HEIGHT * h["complaints"] / top, 1),
                "label": f"{h['hour']:%m-%d %H}:00 — {_n(h['complaints'], 'complaint')}, "
                f"{_n(h['traces'], 'trace')}",
            }
            for i, h in enumerate(hours)
        ],
    }


@login_required
def incident_list(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    rows = Incident.objects.filter(project=membership.project).order_by("-opened_at")[:200]
    return render(
        request,
        "triage/incidents.html",
        {
            "project": membership.project,
            "membership": membership,
            "incidents": rows,
            "severities": Incident.Severity.values,
            "nav": "incidents",
        },
    )


@login_required
@require_POST
def incident_create(request, project_slug):
    """From scratch (title + severity), or from a queue item (`item`: prefilled with its
    prompt hashes, models, exemplar traces and share of traffic, its cluster linked)."""
    membership = _lead(request, project_slug)
    project = membership.project
    item_id = parse_int(request.POST.get("item"))
    if item_id is not None:
        item = get_object_or_404(QueueItem, pk=item_id, project=project)
        values = incidents.incident_prefill_from_item(item=item)
        clusters = [item.cluster]
    else:
        title = request.POST.get("title", "").strip()[:200]
        severity = request.POST.get("severity", "")
        if not title or severity not in Incident.Severity.values:
            messages.error(request, "An incident needs a title and a severity (sev1–sev4).")
            return redirect("triage:incidents", project_slug=project_slug)
        values, clusters = {"title": title, "severity": severity}, []
    incident = incidents.incident_open(
        project=project,
        user=request.user,
        clusters=clusters,
        owners=[request.user.username],
        **values,
    )
    messages.success(request, f"Incident #{incident.pk} opened.")
    return redirect("triage:incident", project_slug=project_slug, pk=incident.pk)


@login_required
def incident_detail(request, project_slug, pk):
    membership = membership_get(user=request.user, project_slug=project_slug)
    incident = get_object_or_404(Incident, pk=pk, project=membership.project)
    scope = incidents.incident_scope(incident)
    context = incidents.postmortem_context(incident)
    return render(
        request,
        "triage/incident.html",
        {
            **context,
            "project": membership.project,
            "membership": membership,
            "scope": scope,
            "chart": _chart(scope["hours"]),
            "layers": Incident.Layer.values,
            "postmortem": render_to_string("triage/postmortem.md", context),
            "nav": "incidents",
        },
    )


@login_required
@require_POST
def incident_update(request, project_slug, pk):
    membership = _lead(request, project_slug)
    incident = get_object_or_404(Incident, pk=pk, project=membership.project)
    post = request.POST
    if post.get("action") == "confirm_repeat_check":
        incidents.incident_repeat_confirm(
            incident=incident, user=request.user, note=post.get("note", "")[:2000]
        )
        return redirect("triage:incident", project_slug=project_slug, pk=pk)
    fields = {
        name: post[name][:10_000]
        for name in ("impact", "mitigation", "prompt_hash", "model_id", "index_version")
        if name in post
    }
    if post.get("root_cause_layer") in Incident.Layer.values:
        fields["root_cause_layer"] = post["root_cause_layer"]
    cases = []
    if post.get("case_id"):
        cases = list(
            Case.objects.filter(golden_set__project=membership.project, case_id=post["case_id"])
        )
        if not cases:
            messages.error(request, f"No case '{post['case_id']}' in this project.")
    status = post.get("status") if post.get("status") in ("mitigated", "closed") else None
    try:
        incidents.incident_update(
            incident=incident,
            user=request.user,
            cases=cases,
            note=post.get("note", "")[:10_000],
            status=status,
            **fields,
        )
    except incidents.EvalNotProven as exc:
        names = ", ".join(exc.cases) or "no case is linked yet"
        messages.error(request, f"Not closed: eval not proven in holdout ({names}).")
        return redirect("triage:incident", project_slug=project_slug, pk=pk)
    messages.success(request, "Incident updated.")
    return redirect("triage:incident", project_slug=project_slug, pk=pk)


@login_required
def incident_postmortem(request, project_slug, pk):
    """postmortem.md for people in the browser (CI reads the same from the API)."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    incident = get_object_or_404(Incident, pk=pk, project=membership.project)
    body = render_to_string("triage/postmortem.md", incidents.postmortem_context(incident))
    response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{pk}-postmortem.md"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def eval_debt_page(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    debt = eval_debt.eval_debt(project=membership.project, now=timezone.now())
    return render(
        request,
        "triage/eval_debt.html",
        {
            "project": membership.project,
            "membership": membership,
            "debt": debt,
            "total": sum(len(rows) for rows in debt.values()),
            "nav": "eval_debt",
        },
    )
