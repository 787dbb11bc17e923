"""The webhook outbox: tell an app's endpoints about what happened in Triage.

Apps above this one emit events (golden_set.version_published from datasets, p0.* and
queue_item.labelled from triage) with `webhook_emit`, inside the transaction that made the
change: the delivery row exists exactly when the change does, the send is enqueued after
commit, and a periodic task retries whatever is still due, so a broker or receiver outage
loses nothing. Payloads carry ids, digests and URLs, never text.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"


def webhook_address_refusal(url):
    """Why Triage must not call `url`, or None: its host resolves to a loopback, private,
    link-local or otherwise non-public address (cloud metadata, the database, Redis…).
    Deployments whose CI lives on the internal network set TRIAGE_WEBHOOK_ALLOW_PRIVATE."""
    if settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE:
        return None
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return None  # unresolvable: the send fails and says so
    for address in sorted(addresses):
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            return f"{host} resolves to the non-public address {address}."
    return None


def webhook_endpoint_create(*, project, url, events):
    """Returns the endpoint and its signing secret (shown once)."""
    secret = f"whsec_{secrets.token_hex(24)}"
    endpoint = WebhookEndpoint.objects.create(
        project=project, url=url, events=sorted(set(events)), secret=secret
    )
    return endpoint, secret


def webhook_emit(*, project, event, payload):
    """Queue `event` for every active endpoint of `project` that wants it (call inside the
    transaction that made the change, so the event exists exactly when the change does)."""
    deliveries = [
        WebhookDelivery(endpoint=endpoint, event=event, payload=payload)
        for endpoint in WebhookEndpoint.objects.filter(project=project, active=True)
        if event in endpoint.events
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(ids):
    # By name: the task module imports this one, so importing it here would be a cycle.
    from celery import current_app

    try:
        current_app.tasks[DELIVER_TASK].delay(delivery_ids=ids)
    except Exception:  # broker down: the periodic retry sends them
        logger.warning("webhooks: could not enqueue deliveries %s; the retry task will", ids)


def signature(secret, timestamp, body):
    """`sha256=<hex>` of HMAC-SHA256 over "<timestamp>.<body>" (the receiver recomputes it)."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _retry_delay(attempts):
    return timedelta(seconds=settings.TRIAGE_WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1))


def webhook_deliver(*, delivery_id, now=None):
    """Send one due delivery; on failure schedule the next attempt or give up. Idempotent:
    a delivery that is not pending or not yet due is left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        body = json.dumps(
            {"id": delivery.pk, "event": delivery.event, "data": delivery.payload},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Triage-Webhooks/1",
            "X-Triage-Event": delivery.event,
            "X-Triage-Delivery": str(delivery.pk),  # receivers dedupe on it
            "X-Triage-Timestamp": timestamp,
            "X-Triage-Signature": signature(delivery.endpoint.secret, timestamp, body),
        }
        delivery.attempts += 1
        # Checked at every send, not only at creation: DNS may have changed since.
        refusal = webhook_address_refusal(delivery.endpoint.url)
        if refusal:
            delivery.status, delivery.last_error = WebhookDelivery.Status.FAILED, refusal[:300]
            delivery.save()
            return delivery.status
        try:
            response = requests.post(
                delivery.endpoint.url,
                data=body,
                headers=headers,
                timeout=settings.TRIAGE_WEBHOOK_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            delivery.last_status_code, delivery.last_error = response.status_code, ""
            ok = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            delivery.last_status_code, delivery.last_error = None, type(exc).__name__
            ok = False
        if ok:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
        elif delivery.attempts >= settings.TRIAGE_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            delivery.next_attempt_at = now + _retry_delay(delivery.attempts)
        delivery.save()
    return delivery.status


def webhook_due_ids(*, now=None):
    """Pending deliveries whose next attempt is due (the periodic retry's work list)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


def webhooks_deliver(*, delivery_ids):
    return [webhook_deliver(delivery_id=pk) for pk in delivery_ids]


def webhooks_retry_due(*, now=None):
    """Send what is due: retries after a failure, and anything whose first send never ran."""
    return len(webhooks_deliver(delivery_ids=webhook_due_ids(now=now)))


def public_url(path):
    """An absolute link for a payload (receivers are outside: TRIAGE_PUBLIC_URL)."""
    return settings.TRIAGE_PUBLIC_URL.rstrip("/") + path
