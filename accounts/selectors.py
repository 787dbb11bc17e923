"""Reads for who may do what: a user's membership in a project."""

from datetime import date, datetime, time, timedelta

from django.http import Http404
from django.utils import timezone

from .models import AuditEntry, Membership, Project

# Declared by the triage app (QueueItem.Meta.permissions); checked here so every app asks
# the same question the same way.
REVEAL_PII_PERMISSION = "triage.reveal_pii"
# Roles that may use that permission in their project (see membership_can_reveal_pii).
PII_REVEAL_ROLES = frozenset({Membership.Role.LEAD, Membership.Role.ADMIN})


def membership_get(*, user, project_slug):
    """The user's membership in a project; 404 for projects they are not in."""
    membership = (
        Membership.objects.select_related("project")
        .filter(user=user, project__slug=project_slug)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    return membership


def user_projects(*, user):
    """The projects a user is a member of, for the project switcher."""
    return [m.project for m in user.memberships.select_related("project").order_by("project__slug")]


def project_members(*, project):
    return list(
        Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    )


def membership_can_reveal_pii(*, membership):
    """May this member see original personal data (reveal a placeholder, download an
    original attachment) in the membership's project?

    Two things, both needed: the user is cleared to see personal data at all (the
    `triage.reveal_pii` permission, user- or group-wide), and their role *in this project*
    is lead or admin. The permission alone is global, so a lead of project A who is only a
    reviewer in B must not reveal in B. Superusers pass the clearance (Django's has_perm)
    but not the role: they reveal only where they are a lead or admin member too.
    """
    if membership is None or membership.role not in PII_REVEAL_ROLES:
        return False
    return membership.user.has_perm(REVEAL_PII_PERMISSION)


def user_can_reveal_pii(*, user, project_slug):
    """membership_can_reveal_pii for a user and a project slug (False for non-members)."""
    if not getattr(user, "is_authenticated", False):
        return False
    membership = (
        Membership.objects.select_related("user")
        .filter(user=user, project__slug=project_slug)
        .first()
    )
    return membership_can_reveal_pii(membership=membership)


def audit_projects(*, user):
    """The projects whose audit log `user` may read: every project for staff, the projects
    they are an admin of otherwise (empty: no access)."""
    if user.is_staff or user.is_superuser:
        return Project.objects.order_by("slug")
    return Project.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.ADMIN
    ).order_by("slug")


def audit_entries(*, user, project_slug="", actor="", action="", since=None, until=None):
    """Audit entries `user` may read, newest first, filtered. Staff also see entries with
    no project (e.g. a key created from the command line for a project since deleted).
    `since`/`until` are dates, both inclusive (days in the current time zone)."""
    entries = AuditEntry.objects.order_by("-at", "-pk")
    if not (user.is_staff or user.is_superuser):
        entries = entries.filter(project__in=audit_projects(user=user))
    if project_slug:
        entries = entries.filter(project__slug=project_slug)
    if actor:
        entries = entries.filter(actor=actor)
    if action:
        entries = entries.filter(action=action)
    # Ranges on `at` itself (not at__date) so the (…, at) indexes serve them.
    if since:
        entries = entries.filter(at__gte=_day_start(since))
    if until and until < date.max:  # the last representable day bounds nothing
        entries = entries.filter(at__lt=_day_start(until + timedelta(days=1)))
    return entries.select_related("project")


def _day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_actions():
    """The action names recorded so far, for the filter's choices."""
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())
