from django.conf import settings
from django.db import models
from django.utils import timezone

# These tables were created by the feedback app; the rows stay where they are (see
# accounts/migrations/0001_initial.py), only the code moved.


class Project(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "feedback_project"

    def __str__(self):
        return self.slug


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


class RateLimitCount(models.Model):
    """One rate-limit window's count for one key, shared by every process through the
    database when there is no Redis (accounts.ratelimit.DatabaseCounter)."""

    name = models.CharField(max_length=64, unique=True)  # "<key>:<window>"
    count = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)
