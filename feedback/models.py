from django.db import models
from django.utils import timezone

from accounts.models import ApiKey, Project


class FeedbackTokenRevocation(models.Model):
    """One feedback token revoked before it expired. Tokens are signed, not stored, so a
    revoked one is remembered here until its expiry; after that the row is dead weight."""

    token_hash = models.CharField(max_length=64, unique=True)  # sha256 of the token's payload
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="token_revocation_expiry_idx")]


class FeedbackEvent(models.Model):
    class Rating(models.TextChoices):
        DOWN = "down"
        UP = "up"

    class Source(models.TextChoices):
        EXPLICIT = "explicit"
        IMPLICIT = "implicit"
        AUTO = "auto"

    # No index of its own: every composite index below starts with the project, and each
    # ingested row would pay for one more index that no query needs.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="feedback", db_index=False
    )
    # NULL (not "") when absent, so the unique constraint only binds real ids.
    client_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    body_hash = models.CharField(max_length=64)
    trace_id = models.CharField(max_length=128, blank=True)
    run_id = models.CharField(max_length=128, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    message_id = models.CharField(max_length=128, blank=True)
    user_hash = models.CharField(max_length=64, blank=True)
    rating = models.CharField(max_length=4, choices=Rating.choices, blank=True)
    score = models.FloatField(null=True, blank=True)
    category = models.CharField(max_length=32, blank=True)
    comment = models.TextField(blank=True)
    prompt_hash = models.CharField(max_length=128, blank=True)
    model_id = models.CharField(max_length=128, blank=True)
    customer_tier = models.CharField(max_length=32, blank=True)
    locale = models.CharField(max_length=32, blank=True)
    # The app's own intent label; joins the clustering key (db_default: raw COPYs may omit it).
    intent = models.CharField(max_length=128, blank=True, default="", db_default="")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.EXPLICIT)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    # Set by the processing task; a NULL older than a few minutes means the task never ran.
    processed_at = models.DateTimeField(null=True, blank=True)
    # When the retention purge replaced comment and metadata with scrubbed copies.
    raw_purged_at = models.DateTimeField(null=True, blank=True)
    cluster = models.ForeignKey(
        "triage.Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "client_id"], name="feedback_client_id_unique"
            )
        ]
        # Plain composite indexes, not db_index=True: on PostgreSQL that adds a second
        # varchar_pattern_ops index per column, which every ingested row pays for and no
        # query (never LIKE on ids) uses.
        indexes = [
            models.Index(
                fields=["processed_at", "received_at"],
                name="feedback_unprocessed_idx",
                condition=models.Q(processed_at__isnull=True),
            ),
            models.Index(fields=["project", "trace_id"], name="feedback_trace_idx"),
            # A data-subject erasure finds one end user's events (triage.erasure); most
            # events carry no user id, so they stay out of the index.
            models.Index(
                fields=["project", "user_hash"],
                name="feedback_user_hash_idx",
                condition=~models.Q(user_hash=""),
            ),
            # Feedback naming only a run is linked when the run arrives.
            models.Index(
                fields=["project", "run_id"],
                name="feedback_unlinked_run_idx",
                condition=models.Q(trace_id=""),
            ),
            # The retention purge's scan: raw rows by age. Purged rows leave the index, so it
            # holds about TRIAGE_RAW_RETENTION_DAYS of rows, appended at its right edge.
            models.Index(
                fields=["project", "received_at"],
                name="feedback_raw_kept_idx",
                condition=models.Q(raw_purged_at__isnull=True),
            ),
        ]

    @property
    def is_negative(self):
        if self.rating:
            return self.rating == self.Rating.DOWN
        return self.score is not None and self.score < 0.5


class Run(models.Model):
    """One step of a trace, in LangSmith's run shape. A run may be posted then patched."""

    RUN_TYPES = ("llm", "chain", "tool", "retriever", "prompt", "parser", "embedding")

    # Covered by the composite indexes below, as on FeedbackEvent.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    run_id = models.CharField(max_length=128)
    trace_id = models.CharField(max_length=128)  # indexed with project, below
    parent_run_id = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=300, blank=True)
    run_type = models.CharField(max_length=16, default="chain")
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.IntegerField(null=True, blank=True)
    completion_tokens = models.IntegerField(null=True, blank=True)
    total_tokens = models.IntegerField(null=True, blank=True)
    total_cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    # What replay needs beyond LangSmith's core shape.
    model = models.CharField(max_length=200, blank=True)
    stop_reason = models.CharField(max_length=64, blank=True)
    documents = models.JSONField(null=True, blank=True)  # retriever results, normalized
    dotted_order = models.CharField(max_length=2000, blank=True)  # LangSmith's tree order
    source = models.CharField(max_length=16, default="native")  # native | langsmith | otlp
    # LangSmith's tracing project (session) and, for a run of an `evaluate()` experiment,
    # the dataset example (golden-set case) it ran on: such runs are eval results.
    session_id = models.CharField(max_length=64, blank=True)
    reference_example_id = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    # When the retention purge replaced its texts with scrubbed copies (and attachment bytes
    # were deleted).
    raw_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "run_id"], name="run_unique_per_project")
        ]
        indexes = [
            models.Index(fields=["project", "trace_id"], name="run_project_trace_idx"),
            # Only experiment runs carry an example: a small partial index.
            models.Index(
                fields=["project", "session_id"],
                name="run_experiment_idx",
                condition=~models.Q(reference_example_id=""),
            ),
            # The production-health rollup reads a project's runs by time window.
            models.Index(fields=["project", "start_time"], name="run_project_start_idx"),
            # The retention purge's scan (see FeedbackEvent).
            models.Index(
                fields=["project", "received_at"],
                name="run_raw_kept_idx",
                condition=models.Q(raw_purged_at__isnull=True),
            ),
        ]

    @property
    def duration_ms(self):
        if self.start_time and self.end_time:
            return (self.end_time - self.start_time).total_seconds() * 1000
        return None


class RunAttachment(models.Model):
    """A file an app attached to a run (LangSmith `attachments`), kept with the run.

    `is_text` is decided at ingest (feedback.attachments): text attachments may carry
    personal data the scrubber never saw, so reviewers get only their metadata.
    """

    # No index of its own: the unique (run, name) index serves lookups by run.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="attachments", db_index=False
    )
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=128)
    size = models.PositiveIntegerField()
    is_text = models.BooleanField()
    content = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="run_attachment_unique")
        ]


class TracingSession(models.Model):
    """A LangSmith session ("tracing project") created through the SDK. One with a
    reference dataset is an experiment: `evaluate()` running a golden set, whose runs and
    evaluator scores are eval results, never production traffic or user complaints."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    session_id = models.UUIDField()  # the id the SDK knows it by
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    reference_dataset_id = models.UUIDField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    start_time = models.DateTimeField(default=timezone.now)
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "session_id"], name="session_id_unique"),
            models.UniqueConstraint(fields=["project", "name"], name="session_name_unique"),
        ]

    @property
    def is_experiment(self):
        return self.reference_dataset_id is not None

    @property
    def metadata(self):
        metadata = (self.extra or {}).get("metadata")
        return metadata if isinstance(metadata, dict) else {}


class EvalScore(models.Model):
    """An evaluator's score on a run of an experiment (feedback `evaluate()` posts): what
    decides whether a golden-set case passed. Kept apart from FeedbackEvent on purpose."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    feedback_id = models.CharField(max_length=64)  # the SDK's id: posting twice is a no-op
    session_id = models.CharField(max_length=64, blank=True)
    run_id = models.CharField(max_length=128)
    key = models.CharField(max_length=200)
    score = models.FloatField(null=True, blank=True)
    value = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "feedback_id"], name="eval_score_unique")
        ]
        indexes = [models.Index(fields=["project", "run_id"], name="eval_score_run_idx")]

    @property
    def passed(self):
        """Score ≥ 0.5 or a true value passes; None when the score says nothing."""
        if isinstance(self.score, int | float):
            return self.score >= 0.5
        if isinstance(self.value, bool):
            return self.value
        return None
