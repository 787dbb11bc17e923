from celery import shared_task

from . import services


@shared_task(name="feedback.sweep_unprocessed")
def sweep_unprocessed(*, older_than_seconds=None):
    return services.feedback_sweep_unprocessed(older_than_seconds=older_than_seconds)
