from celery import shared_task

from . import services


@shared_task(name=services.DELIVER_TASK, acks_late=True)
def deliver(*, delivery_ids):
    return services.webhooks_deliver(delivery_ids=delivery_ids)


@shared_task(name="webhooks.retry_due")
def retry_due():
    return services.webhooks_retry_due()
