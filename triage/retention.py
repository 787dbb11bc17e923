"""Raw-text retention: past TRIAGE_RAW_RETENTION_DAYS, raw text gives way to scrubbed copies.

Where raw production text lives, and what the purge leaves:
- FeedbackEvent.comment / .metadata: replaced by scrubbed copies (entity tags such as
  `<PERSON>`, no numbers: nothing behind them to reveal). Only once processed (clustered),
  so nothing is purged before the job has read it; fingerprints and counts stay.
- Run name / inputs / outputs / error / documents / metadata: scrubbed copies, only for runs
  the project's finished triage runs have already checked for auto-flags (run watermark).
  Their attachments lose their bytes (metadata stays).
- PiiMapping.original_encrypted (the reveal table): emptied; placeholders keep their numbers.
Queue items' scrubbed views, clusters and golden-set cases hold scrubbed text only and are
not touched. Each batch is one transaction of at most TRIAGE_RETENTION_BATCH rows; rows are
marked (`raw_purged_at`, empty original), so a second pass finds nothing more.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Project
from feedback.models import FeedbackEvent, Run, RunAttachment

from .models import PiiMapping, TriageRun
from .pii.placeholders import Placeholders, scrub_json

logger = logging.getLogger(__name__)

PURGED_ORIGINAL = b""  # what a purged mapping holds
RUN_TEXT_FIELDS = ["name", "inputs", "outputs", "error", "documents", "metadata"]


class _EntityTags(Placeholders):
    """Scrubs to bare entity types: a purged row's copy points at no stored original."""

    def placeholder_for(self, entity_type, value):
        return f"<{entity_type}>"


def _scrubbed_copies(rows):
    """Each row's values scrubbed; a row whose values cannot be scrubbed (say, JSON too
    deep to walk) gets empty ones: the raw text goes either way, and one bad row must not
    hold back the rest."""
    try:
        return scrub_json(rows, _EntityTags())
    except Exception:
        out = []
        for values in rows:
            try:
                out.append(scrub_json([values], _EntityTags())[0])
            except Exception:
                logger.warning("retention: could not scrub a row; its raw text is dropped")
                out.append([type(v)() if v is not None else None for v in values])
        return out


def _oldest_first(candidates, batch, fields):
    """Batches of candidate rows by (received_at, pk), on the partial `…_raw_kept_idx`
    indexes: purged rows leave them, rows skipped (unprocessed) are stepped over."""
    candidates = candidates.order_by("received_at", "pk").only("received_at", *fields)
    after = None
    while True:
        page = candidates
        if after is not None:
            at, pk = after
            # Not an OR of the two: `>=` keeps the index range condition.
            page = page.filter(received_at__gte=at).exclude(received_at=at, pk__lte=pk)
        rows = list(page[:batch])
        if not rows:
            return
        after = rows[-1].received_at, rows[-1].pk
        yield rows


def _events_purge(project, cutoff, batch):
    purged = 0
    candidates = FeedbackEvent.objects.filter(
        project=project,
        received_at__lt=cutoff,
        processed_at__isnull=False,  # not clustered yet: the job still needs the raw text
        raw_purged_at__isnull=True,
    )
    for rows in _oldest_first(candidates, batch, ["comment", "metadata"]):
        copies = _scrubbed_copies([[e.comment, e.metadata] for e in rows])
        now = timezone.now()
        for event, (comment, metadata) in zip(rows, copies, strict=True):
            event.comment, event.metadata, event.raw_purged_at = comment, metadata, now
        with transaction.atomic():
            FeedbackEvent.objects.bulk_update(rows, ["comment", "metadata", "raw_purged_at"])
        purged += len(rows)
    return purged


def _runs_purge(project, cutoff, batch):
    """(runs, attachments) purged: runs the auto-flag check has seen, received before cutoff."""
    checked = TriageRun.objects.filter(
        project=project, kind="triage", status=TriageRun.Status.DONE
    ).aggregate(m=Max("run_watermark"))["m"]
    if not checked:
        return 0, 0
    runs = attachments = 0
    candidates = Run.objects.filter(
        project=project, pk__lte=checked, received_at__lt=cutoff, raw_purged_at__isnull=True
    )
    for rows in _oldest_first(candidates, batch, RUN_TEXT_FIELDS):
        copies = _scrubbed_copies([[getattr(r, f) for f in RUN_TEXT_FIELDS] for r in rows])
        now = timezone.now()
        for run, values in zip(rows, copies, strict=True):
            for field, value in zip(RUN_TEXT_FIELDS, values, strict=True):
                setattr(run, field, value)
            run.raw_purged_at = now
        with transaction.atomic():
            Run.objects.bulk_update(rows, [*RUN_TEXT_FIELDS, "raw_purged_at"])
            attachments += RunAttachment.objects.filter(run__in=rows).update(content=b"")
        runs += len(rows)
    return runs, attachments


def _originals_purge(project, cutoff, batch):
    purged = 0
    old = PiiMapping.objects.filter(queue_item__project=project, created_at__lt=cutoff).exclude(
        original_encrypted=PURGED_ORIGINAL
    )
    while ids := list(old.order_by("pk").values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            purged += PiiMapping.objects.filter(pk__in=ids).update(
                original_encrypted=PURGED_ORIGINAL
            )
    return purged


def raw_retention_purge(*, project):
    """Purge one project's raw text older than TRIAGE_RAW_RETENTION_DAYS; record the counts
    as a `retention` run (the health page and /healthz show the latest). Idempotent."""
    days = settings.TRIAGE_RAW_RETENTION_DAYS
    if days <= 0:
        return None
    started = timezone.now()
    cutoff = started - timedelta(days=days)
    batch = settings.TRIAGE_RETENTION_BATCH
    runs, attachments = _runs_purge(project, cutoff, batch)
    summary = {
        "cutoff": cutoff.isoformat(),
        "comments": _events_purge(project, cutoff, batch),
        "runs": runs,
        "attachments": attachments,
        "originals": _originals_purge(project, cutoff, batch),
    }
    # The purge's own log is kept as long as the raw text was.
    TriageRun.objects.filter(project=project, kind="retention", created_at__lt=cutoff).delete()
    TriageRun.objects.create(
        project=project,
        kind="retention",
        status=TriageRun.Status.DONE,
        phase="done",
        summary=summary,
        started_at=started,
        finished_at=timezone.now(),
    )
    logger.info("raw retention purge for project %s: %s", project.slug, summary)
    return summary


def raw_retention_purge_all():
    """Every project's purge; {project slug: counts}."""
    return {
        project.slug: raw_retention_purge(project=project)
        for project in Project.objects.order_by("pk")
    }


def raw_retention_status():
    """What the purge did in the last day, for /healthz (operators watch it run)."""
    day = TriageRun.objects.filter(
        kind="retention", finished_at__gte=timezone.now() - timedelta(days=1)
    )
    totals = {"comments": 0, "runs": 0, "attachments": 0, "originals": 0}
    for summary in day.values_list("summary", flat=True):
        for key in totals:
            totals[key] += summary.get(key, 0)
    latest = day.order_by("-finished_at").values_list("finished_at", flat=True).first()
    return {
        "days": settings.TRIAGE_RAW_RETENTION_DAYS,
        "last_purge_at": latest.isoformat() if latest else None,
        "purged_last_day": totals,
    }
