from django.conf import settings
from django.db import models
from django.utils import timezone

_WEEK = models.Q(labelled_at__isnull=False)  # queue_week_idx: "labelled this week" pages


class Cluster(models.Model):
    """Feedback events that describe the same problem (same fingerprint within a category)."""

    class Status(models.TextChoices):
        OPEN = "open"
        KNOWN_ISSUE = "known_issue"
        CLOSED = "closed"
        FIXED = "fixed"  # every case promoted from it passes, proven in holdout
        REGRESSED = "regressed"  # was fixed; a case failed again or complaints came back

    class Kind(models.TextChoices):
        ISSUE = "issue"
        DRIFT_SAMPLE = "drift_sample"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="clusters"
    )
    fingerprint = models.CharField(max_length=64)
    category = models.CharField(max_length=32, blank=True)
    intent = models.CharField(max_length=128, blank=True, default="", db_default="")  # events'
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    event_count = models.IntegerField(default=0)
    first_seen_at = models.DateTimeField(null=True)
    last_seen_at = models.DateTimeField(null=True)
    top_tier = models.CharField(max_length=32, blank=True)
    score = models.FloatField(default=0)
    score_breakdown = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # MinHash of the first text, what near-duplicates match; immutable: workers cache it.
    minhash = models.BinaryField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ISSUE)
    # Drift samples point at the cluster they were drawn from.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="samples"
    )
    # Why the job (re-)queued it, beyond the score: a regression or drift.
    queue_reason = models.CharField(max_length=200, blank=True)
    known_issue_since = models.DateTimeField(null=True, blank=True)
    baseline_per_window = models.FloatField(null=True, blank=True)
    fixed_at = models.DateTimeField(null=True, blank=True)
    fixed_commit = models.CharField(max_length=80, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "fingerprint"], name="cluster_fingerprint_unique"
            )
        ]
        indexes = [
            models.Index(fields=["project", "status", "kind"], name="cluster_status_idx"),
            models.Index(fields=["project", "first_seen_at", "id"], name="cluster_p0_clock_idx"),
        ]

    def __str__(self):
        return f"cluster {self.pk} ({self.category or 'uncategorised'}, {self.event_count})"

    @property
    def is_p0(self):
        return self.category in settings.TRIAGE_P0_CATEGORIES


class QueueItem(models.Model):
    """One cluster waiting for (or under) review. `version` guards against stale edits."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        LABELLED = "labelled"
        SKIPPED = "skipped"

    class Decision(models.TextChoices):
        ADD_TO_EVAL = "add_to_eval", "Add to eval"
        KNOWN_ISSUE = "known_issue", "Known issue"
        EXPECTED = "expected_behaviour", "Expected behaviour"
        NEEDS_PRODUCT = "needs_product_decision", "Needs product decision"
        FIX_NOW = "fix_now", "Fix now"  # the weekly meeting's call: an engineer takes it
        WONT_FIX = "wont_fix", "Won't fix"

    # Built-in failure modes; projects add their own (FailureMode rows).
    FAILURE_MODES = [
        "retrieval_miss",
        "faithfulness",
        "tool_error",
        "injection",
        "refusal",
        "other",
    ]

    # No single-column indexes on project, score or user columns: each claim and label UPDATE
    # writes an entry into every index. The composite and partial ones in Meta cover lookups.
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="queue_items", db_index=False
    )
    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="queue_item")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    score = models.FloatField(default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    version = models.IntegerField(default=1)
    # What reviewers see: scrubbed comments and trace runs (see triage.pii).
    scrubbed = models.JSONField(default=dict, blank=True)
    scrubbed_event_count = models.IntegerField(default=0)
    scrub_problem = models.CharField(max_length=500, blank=True)  # shown to leads on the queue
    decision = models.CharField(max_length=32, choices=Decision.choices, blank=True)
    failure_mode = models.CharField(max_length=32, blank=True)  # the first of failure_modes
    failure_modes = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict, blank=True)  # rubric field key → value
    criteria = models.TextField(blank=True)
    expected_output = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    labelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The first two match the queue's sort (score desc, id desc): index range scans.
        indexes = [
            models.Index(fields=["project", "status", "-score", "-id"], name="queue_next_idx"),
            models.Index(fields=["project", "-score", "-id"], name="queue_all_idx"),
            models.Index(
                fields=["lease_expires_at"],
                name="queue_lease_idx",
                condition=models.Q(status="claimed"),
            ),
            # Assignee filter, user deletion; partial: claims and labels skip some (like week).
            models.Index(
                fields=["claimed_by"],
                name="queue_claimed_by_idx",
                condition=models.Q(claimed_by__isnull=False),
            ),
            models.Index(
                fields=["labelled_by"],
                name="queue_labelled_by_idx",
                condition=models.Q(labelled_by__isnull=False),
            ),
            models.Index(fields=["project", "labelled_at"], name="queue_week_idx", condition=_WEEK),
        ]
        permissions = [("reveal_pii", "Can reveal original PII values")]

    def __str__(self):
        return f"queue item {self.pk} ({self.status})"

    @property
    def lease_live(self):
        """Claimed on a lease that has not run out (the expiry job may not have run yet)."""
        return (
            self.status == self.Status.CLAIMED
            and self.lease_expires_at is not None
            and self.lease_expires_at > timezone.now()
        )

    @property
    def shown_status(self):
        """The status a reviewer should see: a claim whose lease ran out is pending again."""
        if self.status == self.Status.CLAIMED and not self.lease_live:
            return self.Status.PENDING.value
        return self.status


class ClusterFacet(models.Model):
    """A model id or prompt hash seen in a cluster's feedback: what the queue filters on.

    Rebuilt from the events with the cluster's stats (see triage.facets), so filtering the
    queue by model or prompt hash is an index lookup, not a probe of feedback per row.
    """

    class Kind(models.TextChoices):
        MODEL = "model"
        PROMPT_HASH = "prompt_hash"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="facets", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "kind", "value"], name="cluster_facet_unique"
            )
        ]
        indexes = [
            models.Index(fields=["project", "kind", "value", "cluster"], name="cluster_facet_idx"),
            # The queue's prefix filter (value LIKE 'gpt-4o%'): only a pattern_ops index
            # serves LIKE under a non-C collation such as C.UTF-8 or en_US.UTF-8.
            models.Index(
                fields=["project", "kind", "value"],
                name="cluster_facet_prefix_idx",
                opclasses=["int8_ops", "varchar_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self):
        return f"{self.kind}={self.value}"


class FailureMode(models.Model):
    """A project-defined failure mode, offered next to the built-in ones."""

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="failure_modes"
    )
    slug = models.SlugField(max_length=32)
    label = models.CharField(max_length=80)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="failure_mode_unique")
        ]

    def __str__(self):
        return self.slug


class RubricField(models.Model):
    """A score reviewers give beside the decision; leads configure them per project."""

    class Kind(models.TextChoices):
        CATEGORICAL = "categorical", "One of a list"
        NUMERIC = "numeric", "A number in a range"
        BOOLEAN = "boolean", "Yes / no"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="rubric_fields"
    )
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    choices = models.JSONField(default=list, blank=True)  # categorical
    min_value = models.IntegerField(null=True, blank=True)  # numeric
    max_value = models.IntegerField(null=True, blank=True)
    instructions = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    # Archived fields leave the form; labels keep the scores they were given.
    active = models.BooleanField(default=True)
    position = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="rubric_field_unique")
        ]

    def __str__(self):
        return self.key


class SecondReview(models.Model):
    """An independent second decision on a labelled P0 item (TRIAGE_P0_SECOND_REVIEW)."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="second_reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    decision = models.CharField(max_length=32, choices=QueueItem.Decision.choices)
    # The first label it was compared with (a later relabel is a new comparison).
    first_decision = models.CharField(max_length=32, choices=QueueItem.Decision.choices)
    first_version = models.IntegerField()
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "reviewer", "first_version"], name="second_review_once"
            )
        ]

    def __str__(self):
        return f"second review of item {self.item_id} by {self.reviewer_id}"

    @property
    def agrees(self):
        return self.decision == self.first_decision


class ItemComment(models.Model):
    """A reviewers' discussion note on an item: threaded one level, may @mention members."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="discussion")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    body = models.TextField()  # scrubbed with the item's placeholders
    mentioned = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["item", "created_at"], name="item_comment_idx")]

    def __str__(self):
        return f"comment {self.pk} on item {self.item_id}"


class PiiMapping(models.Model):
    """Placeholder → original value, encrypted at rest. Only revealed with `reveal_pii`."""

    queue_item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="pii_mappings")
    placeholder = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=32)
    original_encrypted = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)  # originals purged by age (retention)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["queue_item", "placeholder"], name="pii_placeholder_unique"
            )
        ]


class ClusterFingerprint(models.Model):
    """Every exact fingerprint seen → its cluster, so exact duplicates skip MinHash."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=64)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="fingerprints")
    # Set on the few texts kept as extra representatives of their cluster (triage.dedupe).
    minhash = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "fingerprint"], name="cluster_fp_alias_unique"
            )
        ]


class TriageRun(models.Model):
    """One run of the triage job: progress for the page, watermarks for the next run."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="triage_runs"
    )
    kind = models.CharField(max_length=16, default="triage")  # triage | drift
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=32, blank=True)
    done = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    # Highest FeedbackEvent / Run id this run covered: the next run starts after them.
    event_watermark = models.BigIntegerField(default=0)
    run_watermark = models.BigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # every progress write stamps it
    resumed_from = models.OneToOneField("self", models.SET_NULL, null=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["project", "kind", "-id"], name="triage_run_latest_idx")]

    def __str__(self):
        return f"triage run {self.pk} ({self.status})"

    @property
    def percent(self):
        return int(100 * self.done / self.total) if self.total else (100 if self.done else 0)

    @property
    def summary_text(self):
        """The queue page's short form of `triage_run_summary_text`."""
        new = self.summary.get("new_events", self.summary.get("events", 0))
        queued = self.summary.get("queued", 0)
        return f"{_n(new, 'new event')} since the last run, {queued} newly queued"


def _n(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def triage_run_summary_text(summary):
    """One line for people: the `triage_run` command prints it, the queue page shows it.

    "New" counts the feedback received since the last finished run, not only what this run
    clustered: most feedback is clustered on ingest, so "0 events processed" right after
    posting one read as if it had been lost.
    """
    new = summary.get("new_events", summary.get("events", 0))
    return (
        f"{_n(new, 'new event')} since the last run ({summary.get('events', 0)} clustered now), "
        f"{_n(summary.get('flagged', 0), 'auto-flag')}, "
        f"{_n(summary.get('clusters', 0), 'open cluster')}, "
        f"{summary.get('queued', 0)} newly queued, {summary.get('requeued', 0)} re-queued, "
        f"{summary.get('scrubbed', 0)} scrubbed, {summary.get('scrub_failed', 0)} failed to scrub"
    )


# Split by subject (a module past ~600 lines becomes a package); one app, one set of tables.
from .incidents import Incident, IncidentEvent  # noqa: E402
from .metrics import Alert, AlertRule, MetricRollup  # noqa: E402

__all__ = [
    "Alert", "AlertRule", "Cluster", "ClusterFacet", "ClusterFingerprint", "FailureMode",
    "Incident", "IncidentEvent", "ItemComment", "MetricRollup", "PiiMapping", "QueueItem",
    "RubricField", "SecondReview", "TriageRun", "triage_run_summary_text",
]  # fmt: skip
