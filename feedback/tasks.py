from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import FeedbackEvent

SWEEP_BATCH = 500


@shared_task(name="feedback.sweep_unprocessed")
def sweep_unprocessed(*, older_than_seconds=None):
    """Re-enqueue events whose processing task never ran (e.g. the broker was down)."""
    from triage.tasks import process_feedback

    from .services import feedback_link_pending

    feedback_link_pending()  # run-only feedback whose run arrived in a race
    if older_than_seconds is None:
        older_than_seconds = settings.TRIAGE_SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        FeedbackEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), SWEEP_BATCH):
        process_feedback.apply_async(
            kwargs={"event_ids": ids[start : start + SWEEP_BATCH]}, ignore_result=True
        )
    return len(ids)
