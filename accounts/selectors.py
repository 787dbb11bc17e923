"""Reads for who may do what: a user's membership in a project."""

from django.http import Http404

from .models import Membership

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
