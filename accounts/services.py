"""Writes for projects, memberships and API keys."""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .auth import api_key_generate, api_key_hash, revocations
from .models import ApiKey, Membership, Project


def project_get_or_create(*, slug, name=""):
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return project


def api_key_create(*, project, scopes, name="", raw_key=None):
    """Returns (ApiKey, raw key). The raw key is never stored; pass raw_key to re-derive one."""
    unknown = set(scopes) - set(ApiKey.SCOPES)
    if unknown or not scopes:
        raise ValueError(f"Unknown scopes {sorted(unknown)}; choose from {list(ApiKey.SCOPES)}.")
    raw_key = raw_key or api_key_generate()
    key, _ = ApiKey.objects.get_or_create(
        key_hash=api_key_hash(raw_key),
        defaults={"project": project, "scopes": list(scopes), "name": name, "prefix": raw_key[:12]},
    )
    return key, raw_key


def api_key_revoke(*, key):
    """Revoke a key now: every process stops accepting it, and the feedback tokens it
    minted, on its next request (see accounts.auth.RevocationSignal). Revoking twice is a no-op."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    transaction.on_commit(revocations.announce)
    return key


def membership_add(*, project, username, role, password=None):
    """Add `username` to `project` with `role` (creating the user if needed; a new user gets
    `password`, or a random one). Returns (membership, password given to a new user or None).
    Adding again updates the role."""
    if role not in Membership.Role.values:
        raise ValueError(f"Unknown role '{role}'; choose from {list(Membership.Role.values)}.")
    with transaction.atomic():
        user, created = get_user_model().objects.get_or_create(username=username)
        new_password = None
        if created:
            new_password = password or secrets.token_urlsafe(12)
            user.set_password(new_password)
            user.save(update_fields=["password"])
        membership, _ = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
    return membership, new_password
