"""Writes for projects, memberships and API keys."""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .audit import audit_record
from .auth import api_key_generate, api_key_hash, revocations
from .models import ApiKey, Membership, Project


def project_get_or_create(*, slug, name=""):
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return project


def api_key_create(*, project, scopes, name="", raw_key=None, actor=None):
    """Returns (ApiKey, raw key). The raw key is never stored; pass raw_key to re-derive one.

    `actor`: who, for the audit log ("cli" from commands; default the request's user)."""
    unknown = set(scopes) - set(ApiKey.SCOPES)
    if unknown or not scopes:
        raise ValueError(f"Unknown scopes {sorted(unknown)}; choose from {list(ApiKey.SCOPES)}.")
    raw_key = raw_key or api_key_generate()
    with transaction.atomic():
        key, created = ApiKey.objects.get_or_create(
            key_hash=api_key_hash(raw_key),
            defaults={
                "project": project,
                "scopes": list(scopes),
                "name": name,
                "prefix": raw_key[:12],
            },
        )
        if created:
            details = {"prefix": key.prefix, "scopes": key.scopes, "name": name}
            audit_record(action="api_key.create", target=key, actor=actor, details=details)
    return key, raw_key


def api_key_revoke(*, key, actor=None):
    """Revoke a key now: every process stops accepting it, and the feedback tokens it
    minted, on its next request (see accounts.auth.RevocationSignal). Revoking twice is a no-op."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            details = {"prefix": key.prefix}
            audit_record(action="api_key.revoke", target=key, actor=actor, details=details)
    key.refresh_from_db(fields=["revoked_at"])
    transaction.on_commit(revocations.announce)
    return key


def membership_add(*, project, username, role, password=None, actor=None):
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
        before = Membership.objects.filter(project=project, user=user).values_list(
            "role", flat=True
        )
        before = before.first()
        membership, _ = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
        if before != role:
            details = {"user_id": user.pk, "role": role, "previous_role": before}
            audit_record(
                action="membership.change", target=membership, actor=actor, details=details
            )
    return membership, new_password
