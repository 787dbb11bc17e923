from django.conf import settings
from django.db import models
from django.utils import timezone


class GoldenSet(models.Model):
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="golden_sets"
    )
    slug = models.SlugField()
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    # Which evaluator key decides pass/fail in `evaluate()` experiments; blank: every score
    # of the case's run must pass.
    results_key = models.CharField(max_length=200, blank=True)

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


class ResultsRun(models.Model):
    """One CI run of a golden-set version: which cases passed. Posted to the results API, or
    built from an `evaluate()` experiment (its session id) as its scores arrive."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="results")
    version = models.ForeignKey(
        GoldenSetVersion, on_delete=models.CASCADE, related_name="results_runs"
    )
    commit = models.CharField(max_length=80, blank=True)
    name = models.CharField(max_length=200, blank=True)
    experiment_session_id = models.CharField(max_length=64, blank=True)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["golden_set", "experiment_session_id"],
                condition=~models.Q(experiment_session_id=""),
                name="results_run_experiment_unique",
            )
        ]


class CaseResult(models.Model):
    """Whether one case passed in one results run."""

    results_run = models.ForeignKey(ResultsRun, on_delete=models.CASCADE, related_name="cases")
    case_id = models.CharField(max_length=80)
    split = models.CharField(max_length=16, blank=True)
    passed = models.BooleanField()
    score = models.FloatField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    details = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["results_run", "case_id"], name="case_result_unique")
        ]
        indexes = [models.Index(fields=["case_id", "-created_at"], name="case_result_history_idx")]
