"""The weekly triage meeting: this week's decisions by owner, and the agenda (the lap)."""

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.query_params import parse_date
from accounts.selectors import membership_get, project_members, user_projects

from . import agenda, selectors
from .models import QueueItem


@login_required
def weekly(request, project_slug):
    """The weekly triage meeting: what was decided this week, by decision and owner."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    today = timezone.localdate()
    day = parse_date(request.GET.get("week"), default=today, latest=today)
    monday = day - timedelta(days=day.weekday())
    week_start = timezone.make_aware(datetime.combine(monday, time.min))
    return render(
        request,
        "triage/weekly.html",
        {
            "project": membership.project,
            "projects": user_projects(user=request.user),
            "membership": membership,
            "week_start": monday,
            "prev_week": monday - timedelta(days=7),
            "next_week": monday + timedelta(days=7)
            if monday + timedelta(days=7) <= today
            else None,
            "groups": selectors.weekly_triage(project=membership.project, week_start=week_start),
            "agenda": agenda.weekly_agenda(project=membership.project, week_start=week_start),
            "members": project_members(project=membership.project),
            "in_review": QueueItem.objects.filter(
                project=membership.project,
                status=QueueItem.Status.CLAIMED,
                lease_expires_at__gt=timezone.now(),
            )
            .select_related("cluster", "claimed_by")
            .order_by("-score", "-pk")[:50],
            "nav": "weekly",
        },
    )


@login_required
@require_POST
def weekly_label(request, project_slug, pk):
    """The meeting labels an item in place with an owner (leads run the meeting)."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads label from the weekly agenda.")
    item = get_object_or_404(QueueItem, pk=pk, project=membership.project)
    owner = next(
        (m.user for m in project_members(project=membership.project)
         if str(m.user_id) == request.POST.get("owner", "")),
        None,
    )  # fmt: skip
    try:
        if owner is None:
            raise agenda.MeetingLabelError("Pick an owner from the project's members.")
        agenda.weekly_label(item=item, decision=request.POST.get("decision", ""), owner=owner)
    except agenda.MeetingLabelError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Item #{item.pk}: {owner.username} owns it.")
    return redirect(f"{reverse('triage:weekly', args=[project_slug])}#agenda")
