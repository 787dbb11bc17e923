from celery import shared_task

from . import webhooks


@shared_task(name="datasets.deliver_webhooks", acks_late=True)
def deliver_webhooks(*, delivery_ids):
    return [webhooks.webhook_deliver(delivery_id=pk) for pk in delivery_ids]


@shared_task(name="datasets.retry_webhooks")
def retry_webhooks():
    """Send what is due: retries after a failure, and anything whose first send never ran."""
    return len([webhooks.webhook_deliver(delivery_id=pk) for pk in webhooks.webhook_due_ids()])


@shared_task(name="datasets.p0_alerts")
def p0_alerts():
    return webhooks.p0_alerts_emit()
