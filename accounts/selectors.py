"""Reads for who may do what: a user's membership in a project."""

from django.http import Http404

from .models import Membership

# Declared by the triage app (QueueItem.Meta.permissions); checked here so every app asks
# the same question the same way.
REVEAL_PII_PERMISSION = "triage.reveal_pii"


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
    original attachment) in the membership's project?"""
    return membership.user.has_perm(REVEAL_PII_PERMISSION)
