"""Incidents and their timelines."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Incident(models.Model):
    """An AI incident: a soft failure in production, scoped with traces, mitigated, fixed
    with eval proof (its linked cases pass in holdout) and written up as a postmortem whose
    action items are golden cases. Free text is scrubbed on the way in."""

    class Severity(models.TextChoices):
        SEV1 = "sev1"
        SEV2 = "sev2"
        SEV3 = "sev3"
        SEV4 = "sev4"

    class Status(models.TextChoices):
        OPEN = "open"
        MITIGATED = "mitigated"
        CLOSED = "closed"

    class Layer(models.TextChoices):
        RETRIEVAL = "retrieval"
        PROMPT = "prompt"
        TOOL = "tool"
        MODEL = "model"
        DATA = "data"

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    impact = models.TextField(blank=True)
    impact_share = models.FloatField(null=True, blank=True)  # share of sessions, 0..1
    root_cause_layer = models.CharField(max_length=16, choices=Layer.choices, blank=True)
    prompt_hash = models.CharField(max_length=128, blank=True)
    model_id = models.CharField(max_length=128, blank=True)
    customer_tier = models.CharField(max_length=32, blank=True)
    index_version = models.CharField(max_length=128, blank=True)
    trace_ids = models.JSONField(default=list, blank=True)
    mitigation = models.TextField(blank=True)
    owners = models.JSONField(default=list, blank=True)  # usernames of project members
    clusters = models.ManyToManyField("triage.Cluster", related_name="incidents", blank=True)
    cases = models.ManyToManyField("datasets.Case", related_name="incidents", blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The 30-day check (did its cases catch a repeat?), as a lead confirmed it.
    repeat_check_confirmed_at = models.DateTimeField(null=True, blank=True)
    repeat_check_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    repeat_check_note = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "status"], name="incident_status_idx")]


class IncidentEvent(models.Model):
    """One line of an incident's timeline (what happened when, in the lead's words)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]
