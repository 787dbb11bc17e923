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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="golden_set_slug_unique")
        ]

    def __str__(self):
        return self.slug


class Case(models.Model):
    """The working copy of a regression case (its current revision); text already scrubbed.

    Every change goes through datasets.services (a new CaseRevision); published versions
    read the revisions, never these rows, so editing here never changes a published byte.
    """

    class Split(models.TextChoices):
        DEV = "dev"
        HOLDOUT = "holdout"

    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRED = "retired"  # left out of the next version, still in old ones
        QUARANTINED = "quarantined"  # flaky: left out of the next version, eval debt

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
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    revision = models.PositiveIntegerField(default=1)  # the current CaseRevision.revision
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
            models.UniqueConstraint(fields=["golden_set", "number"], name="case_number_unique"),
            models.UniqueConstraint(fields=["golden_set", "case_id"], name="case_id_unique"),
        ]
        ordering = ["number"]

    def __str__(self):
        return self.case_id

    @property
    def time_to_eval_hours(self):
        if self.first_feedback_at and self.first_published_at:
            return (self.first_published_at - self.first_feedback_at).total_seconds() / 3600
        return None


CASE_FIELDS = ("input", "expected", "criteria", "tags", "failure_mode", "split", "status")


class CaseRevision(models.Model):
    """One immutable state of a case. A version is the set of revisions whose range
    [first_version, last_version] covers its number (last_version NULL: still open), so a
    publish closes the changed revisions and opens new ones instead of copying every case.
    Only the two range fields are ever updated, each once."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    # Denormalised from the case (never change) so an export reads this table alone.
    case_number = models.PositiveIntegerField()
    case_key = models.CharField(max_length=80)  # the case's `case_id` (that name is the FK's)
    source = models.CharField(max_length=80)
    input = models.JSONField()
    expected = models.JSONField(null=True, blank=True)
    criteria = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    failure_mode = models.CharField(max_length=32, blank=True)
    split = models.CharField(max_length=8, choices=Case.Split.choices)
    status = models.CharField(max_length=12, choices=Case.Status.choices)
    changed = models.JSONField(default=list, blank=True)  # field names vs the previous revision
    # The revision's cases.jsonl line (no newline) and cases.csv record (with CRLF), encoded
    # once when the revision is written: an export or a digest concatenates stored text
    # instead of decoding and re-encoding JSON, and the bytes cannot drift.
    line = models.TextField()
    csv_line = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=80, blank=True)  # e.g. "api-key:tri_AbC" when no user
    created_at = models.DateTimeField(default=timezone.now)
    first_version = models.PositiveIntegerField(null=True, blank=True)
    last_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "revision"], name="case_revision_unique")
        ]
        indexes = [
            models.Index(fields=["golden_set", "first_version"], name="revision_first_idx"),
            models.Index(fields=["golden_set", "last_version"], name="revision_last_idx"),
            models.Index(fields=["golden_set", "case_number"], name="revision_order_idx"),
        ]
        ordering = ["case_number", "revision"]

    def __str__(self):
        return f"{self.case_key} r{self.revision}"


class GoldenSetVersion(models.Model):
    """Immutable once written: same ref, same bytes forever. Versions published before
    revisions existed keep their JSONL `body`; later ones have an empty body and are read
    from their CaseRevision ranges (rows that never change), in case order."""

    golden_set = models.ForeignKey(GoldenSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=71)  # "sha256:<64 hex>"
    tags = models.JSONField(default=list, blank=True)
    case_count = models.PositiveIntegerField()
    body = models.TextField(blank=True)
    csv_digest = models.CharField(max_length=71, blank=True)  # ETag of cases.csv
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
