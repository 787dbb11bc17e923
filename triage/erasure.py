"""Data-subject erasure: remove one end user's data across ingest and triage."""

import logging

from django.db import transaction

from feedback.models import FeedbackEvent, Run
from feedback.services import user_id_pseudonymize

from .clustering import cluster_stats_refresh
from .models import QueueItem
from .scrubbing import queue_item_scrub
from .sql import lock_project

logger = logging.getLogger(__name__)


def user_data_erase(*, project, user_id):
    """Erase what one end user sent (a data-subject request): their feedback events, the
    runs of traces only they complained about, and every original of theirs in the
    placeholder mappings. Affected clusters are recounted and their queue items re-scrubbed
    from the evidence that remains (fresh placeholders: the old ones may point at them).
    Golden-set cases hold scrubbed text only and stay. Idempotent."""
    user_hash = user_id_pseudonymize(project=project, user_id=user_id)
    with transaction.atomic():
        lock_project(project.pk)  # per-ingest workers add to counts: recount after them
        events = FeedbackEvent.objects.filter(project=project, user_hash=user_hash)
        rows = list(events.values_list("pk", "cluster_id", "trace_id"))
        cluster_ids = {cid for _, cid, _ in rows if cid}
        traces = {tid for _, _, tid in rows if tid}
        events.delete()
        # A trace someone else also complained about is their evidence too: it stays.
        shared = set(
            FeedbackEvent.objects.filter(project=project, trace_id__in=traces).values_list(
                "trace_id", flat=True
            )
        )
        _, deleted = Run.objects.filter(project=project, trace_id__in=traces - shared).delete()
        runs_deleted = deleted.get(Run._meta.label, 0)  # not counting their attachments
        cluster_stats_refresh(cluster_ids=cluster_ids)
        items = list(QueueItem.objects.filter(cluster_id__in=cluster_ids))
        for item in items:
            item.pii_mappings.all().delete()
            queue_item_scrub(item=item)
    logger.info(
        "erased end-user data in project %s: %s events, %s runs, %s queue items re-scrubbed",
        project.slug,
        len(rows),
        runs_deleted,
        len(items),
    )
    return {
        "events_deleted": len(rows),
        "runs_deleted": runs_deleted,
        "queue_items_rescrubbed": len(items),
    }
