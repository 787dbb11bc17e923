"""Production traffic rollups and symptom alerts."""

from django.db import models
from django.utils import timezone


class MetricRollup(models.Model):
    """Production traffic of one project in one hour or day, for one slice (all traffic, or
    one model id / prompt hash / customer tier / locale / feature flag).

    Written by the periodic rollup (triage.metrics), read by the health pages and the
    metrics API; counts and sums only, plus percentiles computed for this bucket (they
    cannot be combined across buckets, so each granularity is computed from the runs).
    """

    class Granularity(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    dimension = models.CharField(max_length=16)  # "all" or one of metrics_sql.DIMENSIONS
    value = models.CharField(max_length=128, blank=True)  # "" = the slice's value is unknown
    traces = models.IntegerField(default=0)
    thumbs_down = models.IntegerField(default=0)
    judged = models.IntegerField(default=0)  # traces with explicit feedback or a judge score
    successes = models.IntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    tool_calls = models.IntegerField(default=0)
    success_tool_calls = models.IntegerField(default=0)
    redundant_calls = models.IntegerField(default=0)
    tool_error_traces = models.IntegerField(default=0)
    parse_error_traces = models.IntegerField(default=0)
    empty_response_traces = models.IntegerField(default=0)
    max_tokens_traces = models.IntegerField(default=0)
    breaker_traces = models.IntegerField(default=0)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    # {"llm": {"runs": n, "p50_ms": …, "p95_ms": …}, "retriever": …, "tool": …}
    run_type_latency = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "granularity", "dimension", "bucket_start", "value"],
                name="metric_rollup_unique",
            )
        ]

    def __str__(self):
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.dimension}"


class AlertRule(models.Model):
    """A project's own settings for one symptom-alert rule, over TRIAGE_ALERT_RULES."""

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rule = models.CharField(max_length=32)
    enabled = models.BooleanField(default=True)
    params = models.JSONField(default=dict, blank=True)  # e.g. {"slo": 0.95}

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "rule"], name="alert_rule_unique")
        ]

    def __str__(self):
        return self.rule


class Alert(models.Model):
    """One episode of a symptom: fired when its rule first breached, resolved when it
    stopped. At most one firing episode per (project, rule, key) — the database says so."""

    class Status(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rule = models.CharField(max_length=32)
    key = models.CharField(max_length=128, blank=True)  # the slice, e.g. a prompt hash
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRING)
    value = models.FloatField(null=True, blank=True)  # the figure when it fired / last seen
    threshold = models.FloatField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    # An example for whoever is paged: session id, trace id and URL, prompt hash, model id.
    context = models.JSONField(default=dict, blank=True)
    fired_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "rule", "key"],
                condition=models.Q(status="firing"),
                name="alert_one_firing_episode",
            )
        ]
        indexes = [models.Index(fields=["project", "-fired_at"], name="alert_history_idx")]

    def __str__(self):
        return f"{self.rule} {self.key} ({self.status})"
