"""The audit log page for staff and project admins: filter, page through, export."""

import csv
import io
import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render

from .errors import json_error
from .models import AuditEntry
from .selectors import audit_actions, audit_entries, audit_projects

PAGE_SIZE = 50
EXPORT_FIELDS = (
    "at", "project", "actor", "action", "target_type", "target_id", "details", "ip", "user_agent",
)  # fmt: skip


class AuditFilterForm(forms.Form):
    project = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=160)
    action = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, projects, actions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [("", "all")] + [(p.slug, p.slug) for p in projects]
        self.fields["action"].choices = [("", "all")] + [(a, a) for a in actions]

    def clean_actor(self):
        return self.cleaned_data["actor"].strip().replace("\x00", "")


def _filtered(request):
    """(form, entries) for the request's filters; 403 for users who may read no log."""
    user = request.user
    projects = list(audit_projects(user=user))
    if not (user.is_staff or user.is_superuser or projects):
        raise PermissionDenied("The audit log is for staff and project admins.")
    form = AuditFilterForm(request.GET or None, projects=projects, actions=audit_actions())
    if form.is_bound and not form.is_valid():
        return form, None
    filters = form.cleaned_data if form.is_bound else {}
    return form, audit_entries(
        user=user,
        project_slug=filters.get("project", ""),
        actor=filters.get("actor", ""),
        action=filters.get("action", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )


def _row(entry):
    return {
        "at": entry.at.isoformat(),
        "project": entry.project.slug if entry.project else "",
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
        "ip": entry.ip or "",
        "user_agent": entry.user_agent,
    }


@login_required
def audit_log(request):
    form, entries = _filtered(request)
    status = 200 if entries is not None else 400  # the form shows which filter is wrong
    entries = entries if entries is not None else AuditEntry.objects.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "accounts/audit.html", context, status=status)


@login_required
def audit_export(request, fmt):
    """The filtered entries as CSV or JSON Lines, streamed (a log can be long)."""
    form, entries = _filtered(request)
    if entries is None:
        fields = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
        return json_error(400, "invalid", f"Invalid value for: {', '.join(fields)}.", fields)
    rows = (_row(entry) for entry in entries.iterator(chunk_size=2000))
    if fmt == "csv":
        body = _csv_lines(rows)
        content_type = "text/csv; charset=utf-8"
    else:
        body = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        content_type = "application/x-ndjson; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="audit-log.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _csv_lines(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "details": json.dumps(row["details"], sort_keys=True)})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
