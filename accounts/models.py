from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# These tables were created by the feedback app; the rows stay where they are (see
# accounts/migrations/0001_initial.py), only the code moved.


def validate_pii_entities(value):
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValidationError('A list of entity types, e.g. ["PERSON", "EMAIL_ADDRESS"].')
    unknown = sorted(set(value) - set(settings.TRIAGE_PII_ENTITY_TYPES))
    if unknown:
        raise ValidationError(
            f"Unknown entity types {unknown}; known: {settings.TRIAGE_PII_ENTITY_TYPES}."
        )


class Project(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    # Which detected types count as personal data here; empty: TRIAGE_PII_ENTITIES.
    pii_entities = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_pii_entities],
        help_text="Entity types scrubbed as personal data, e.g. add COUNTRY to hide "
        "countries too. Empty: the TRIAGE_PII_ENTITIES setting.",
    )

    class Meta:
        db_table = "feedback_project"

    def __str__(self):
        return self.slug

    @property
    def pii_entity_types(self):
        """The entity types scrubbed as personal data in this project."""
        return list(self.pii_entities or settings.TRIAGE_PII_ENTITIES)


class Membership(models.Model):
    """A user's role in a project: reviewers label, leads also publish and run the job."""

    class Role(models.TextChoices):
        REVIEWER = "reviewer"
        LEAD = "lead"
        ADMIN = "admin"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)

    class Meta:
        db_table = "feedback_membership"
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique")
        ]

    @property
    def can_publish(self):
        return self.role in {self.Role.LEAD, self.Role.ADMIN}


class ApiKey(models.Model):
    """Only the sha256 of the key is stored; the key itself is shown once."""

    SCOPES = ("ingest", "datasets:read", "results:write", "admin")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "feedback_apikey"

    def __str__(self):
        return f"{self.prefix}… ({self.project.slug})"

    def has_scope(self, scope):
        return scope in self.scopes or "admin" in self.scopes


class AuditEntry(models.Model):
    """One reviewer, lead, API-key or CLI action: who, when, what, in which project, from
    where. Written by accounts.audit.audit_record in the action's own transaction.

    `actor` is a label kept as text (username, `api-key:<prefix>`, `cli`) so the row still
    says who after a user or key is deleted; the foreign keys serve filtering. `details`
    holds identifiers and enums only, never free text a user typed (it may hold PII).
    """

    at = models.DateTimeField(default=timezone.now)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=160)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        # The audit page's queries: newest first, per project, per actor, per action.
        indexes = [
            models.Index(fields=["-at"], name="audit_at_idx"),
            models.Index(fields=["project", "-at"], name="audit_project_at_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_at_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ]

    def __str__(self):
        target = f"{self.target_type} {self.target_id}".strip()
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {target}"


class RateLimitCount(models.Model):
    """One rate-limit window's count for one key, shared by every process through the
    database when there is no Redis (accounts.ratelimit.DatabaseCounter)."""

    name = models.CharField(max_length=64, unique=True)  # "<key>:<window>"
    count = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)
