from django.conf import settings
from django.db import models
from django.utils import timezone


class GoldenSet(models.Model):
    project = models.ForeignKey(
        "feedback.Project", on_delete=models.CASCADE, related_name="golden_sets"
    )
    slug = models.SlugField()
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="golden_set_slug_unique")
        ]

    def __str__(self):
        return self.slug


class Case(models.Model):
    """A regression case promoted from a reviewed cluster; its text is already scrubbed."""

    class Split(models.TextChoices):
        DEV = "dev"
        HOLDOUT = "holdout"

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="cases")
    number = models.PositiveIntegerField()
    case_id = models.CharField(max_length=80)
    input = models.JSONField()
    expected = models.JSONField(null=True, blank=True)
    criteria = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    failure_mode = models.CharField(max_length=32, blank=True)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.DEV)
    source = models.CharField(max_length=80)
    # Lineage: where the case came from.
    cluster = models.ForeignKey(
        "triage.Cluster", null=True, on_delete=models.SET_NULL, related_name="cases"
    )
    queue_item = models.ForeignKey(
        "triage.QueueItem", null=True, on_delete=models.SET_NULL, related_name="cases"
    )
    trace_ids = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Time-to-eval: first complaint in the cluster → first published version containing the case.
    first_feedback_at = models.DateTimeField(null=True)
    first_published_at = models.DateTimeField(null=True)
    first_published_version = models.ForeignKey(
        "GoldenSetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["golden_set", "number"], name="case_number_unique")
        ]
        ordering = ["number"]

    def __str__(self):
        return self.case_id

    @property
    def time_to_eval_hours(self):
        if self.first_feedback_at and self.first_published_at:
            return (self.first_published_at - self.first_feedback_at).total_seconds() / 3600
        return None


class GoldenSetVersion(models.Model):
    """Immutable once written: the JSONL body is stored, so a ref returns the same bytes forever."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=71)  # "sha256:<64 hex>"
    tags = models.JSONField(default=list, blank=True)
    case_count = models.PositiveIntegerField()
    body = models.TextField()
    notes = models.TextField(blank=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["golden_set", "number"], name="version_number_unique")
        ]
        ordering = ["-number"]

    def __str__(self):
        return f"{self.golden_set.slug} v{self.number}"


class WebhookEndpoint(models.Model):
    """An app's URL that hears about new golden-set versions (e.g. to start a CI run) and
    P0 complaints (e.g. to page someone)."""

    EVENTS = [
        "golden_set.version_published",
        "p0.queued",  # a new P0 complaint entered the queue
        "p0.sla_at_risk",  # a P0 has TRIAGE_SLA_ALERT_HOURS left and no published case
        "queue_item.labelled",  # a reviewer decided (e.g. sync known issues to a tracker)
    ]

    project = models.ForeignKey("feedback.Project", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500)
    # Signs each delivery (HMAC-SHA256); shown once at creation, like an API key.
    secret = models.CharField(max_length=64)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: written with the event, sent after commit, retried."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # gave up after TRIAGE_WEBHOOK_MAX_ATTEMPTS

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_due_idx",
                condition=models.Q(status="pending"),
            )
        ]
        ordering = ["-pk"]
