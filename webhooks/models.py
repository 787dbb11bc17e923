"""The webhook outbox. These tables were created by the datasets app; the rows stay where
they are (see migrations/0001_initial.py), only the code moved."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.models import Project

from .url_syntax import webhook_url_problem


class WebhookEndpoint(models.Model):
    """An app's URL that hears about new golden-set versions (e.g. to start a CI run) and
    P0 complaints (e.g. to page someone)."""

    # The catalogue of what apps emit through this outbox (names only: the payloads are
    # built by the emitting app).
    EVENTS = [
        "golden_set.version_published",  # datasets
        "p0.queued",  # triage: a new P0 complaint entered the queue
        "p0.sla_at_risk",  # triage: a P0 has TRIAGE_SLA_ALERT_HOURS left and no published case
        "queue_item.labelled",  # triage: a reviewer decided (e.g. sync known issues to a tracker)
        "case.passing",  # datasets: a case passed for the first time (CI results)
        "case.regressed",  # datasets: a passing case failed
        "cluster.fixed",  # triage: every case of a cluster passes in holdout
        "incident.opened",  # triage
        "incident.closed",  # triage: its linked cases pass in holdout
        "alert.firing",  # triage: a production-health symptom started (once per episode)
        "alert.resolved",  # triage: … and ended
    ]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # Not a URLField: its validator wants a dotted host; clean() checks what the API does.
    url = models.CharField(max_length=500)
    # Signs each delivery (HMAC-SHA256); shown once at creation, like an API key.
    secret = models.CharField(max_length=64)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Failed attempts in a row; past TRIAGE_WEBHOOK_DISABLE_AFTER the endpoint is disabled.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "datasets_webhookendpoint"

    def __str__(self):
        return self.url

    def clean(self):
        problem = webhook_url_problem(self.url)
        if problem:
            raise ValidationError({"url": [problem]})


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
        db_table = "datasets_webhookdelivery"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_due_idx",
                condition=models.Q(status="pending"),
            )
        ]
        ordering = ["-pk"]
