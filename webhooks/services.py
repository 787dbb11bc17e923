"""The webhook outbox: tell an app's endpoints about what happened in Triage.

Apps above this one emit events (golden_set.version_published from datasets, p0.* and
queue_item.labelled from triage) with `webhook_emit`, inside the transaction that made the
change: the delivery row exists exactly when the change does, the send is enqueued after
commit, and a periodic task retries whatever is still due, so a broker or receiver outage
loses nothing. Payloads carry ids, digests and URLs, never text.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.audit import audit_record

from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"


class AddressRefused(Exception):
    """Triage must not call this URL (permanent), or cannot now: its name does not resolve."""

    def __init__(self, message, permanent=True):
        super().__init__(message)
        self.permanent = permanent


def webhook_address_resolve(url):
    """The one address a send to `url` connects to, checked once: names that resolve to a
    loopback, private, link-local or otherwise non-public address (cloud metadata, the
    database, Redis…) are refused unless TRIAGE_WEBHOOK_ALLOW_PRIVATE (CI on the internal
    network), and so are names that do not resolve. The send then connects to exactly this
    address, so a second DNS answer (rebinding) never takes it elsewhere."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)
    except OSError:
        raise AddressRefused(f"{host} does not resolve.", permanent=False) from None
    addresses = sorted({info[4][0] for info in infos})
    if not settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise AddressRefused(f"{host} resolves to the non-public address {address}.")
    return addresses[0]


def webhook_address_refusal(url):
    """Why Triage must not call `url`, or None (checked when an endpoint is created)."""
    if settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE:
        return None
    try:
        webhook_address_resolve(url)
    except AddressRefused as exc:
        return str(exc)
    return None


def webhook_endpoint_create(*, project, url, events):
    """Returns the endpoint and its signing secret (shown once)."""
    # Standard Webhooks' format: whsec_ + base64 of the key bytes.
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            project=project, url=url, events=sorted(set(events)), secret=secret
        )
        details = {"host": urlsplit(url).hostname, "events": endpoint.events}
        audit_record(action="webhook.create", target=endpoint, details=details)
    return endpoint, secret


def webhook_endpoint_active_set(*, endpoint, active):
    """Turn an endpoint off, or back on (an endpoint disabled after failing starts its
    failure count again)."""
    with transaction.atomic():
        if active:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                active=True, disabled_at=None, consecutive_failures=0
            )
        else:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
        audit_record(action="webhook.update", target=endpoint, details={"active": active})
    endpoint.refresh_from_db()
    return endpoint


def webhook_endpoint_delete(*, endpoint):
    with transaction.atomic():
        audit_record(action="webhook.delete", target=endpoint)
        endpoint.delete()


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


def _post_pinned(url, address, body, headers):
    """POST to `url` but connect to `address` (already checked); HTTPS still verifies the
    certificate for the URL's host name. Returns the status code; never follows redirects."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    timeout = urllib3.Timeout(total=settings.TRIAGE_WEBHOOK_TIMEOUT_SECONDS)
    if https:
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False,
            server_hostname=parts.hostname, assert_hostname=parts.hostname,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Credentials in the URL (https://user:pass@host/) are Basic auth, as curl and
    # browsers send them, never part of the Host header.
    headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers.update(urllib3.util.make_headers(basic_auth=credentials))
    try:
        response = pool.urlopen(
            "POST", path, body=body, headers=headers,
            redirect=False, assert_same_host=False, preload_content=True,
        )  # fmt: skip
        return response.status
    finally:
        pool.close()


def _send_error(exc):
    """A short, stable name for a failed send (shown in the deliveries list)."""
    if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionError):
        return "ConnectionError"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return "Timeout"
    return type(exc).__name__


def _signed_headers(delivery, body, now):
    timestamp = str(int(now.timestamp()))
    message_id = f"whd_{delivery.pk}"
    standard = Webhook(delivery.endpoint.secret).sign(message_id, now, body.decode())
    return {
        "Content-Type": "application/json",
        "User-Agent": "Triage-Webhooks/1",
        # Standard Webhooks (verify with the `standardwebhooks` library and the secret)…
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard,
        # …and the original headers, kept for receivers written against them.
        "X-Triage-Event": delivery.event,
        "X-Triage-Delivery": str(delivery.pk),  # receivers dedupe on it
        "X-Triage-Timestamp": timestamp,
        "X-Triage-Signature": signature(delivery.endpoint.secret, timestamp, body),
    }


def webhook_deliver(*, delivery_id, now=None):
    """Send one due delivery; on failure schedule the next attempt or give up. Idempotent:
    a delivery that is not pending or not yet due is left alone. An endpoint that failed
    TRIAGE_WEBHOOK_DISABLE_AFTER attempts in a row is disabled until re-enabled."""
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
        endpoint = delivery.endpoint
        body = json.dumps(
            {"id": delivery.pk, "event": delivery.event, "data": delivery.payload},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        delivery.attempts += 1
        ok = False
        try:
            # Resolved and checked at every send, not only at creation: DNS may have changed.
            address = webhook_address_resolve(endpoint.url)
            status = _post_pinned(endpoint.url, address, body, _signed_headers(delivery, body, now))
            delivery.last_status_code, delivery.last_error = status, ""
            ok = 200 <= status < 300
        except AddressRefused as exc:
            delivery.last_status_code, delivery.last_error = None, str(exc)[:300]
            if exc.permanent:  # never sent, never retried
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.save()
                return delivery.status
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            delivery.last_status_code, delivery.last_error = None, _send_error(exc)
        if ok:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
        elif delivery.attempts >= settings.TRIAGE_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            delivery.next_attempt_at = now + _retry_delay(delivery.attempts)
        delivery.save()
        _endpoint_health_record(endpoint, ok, now)
    return delivery.status


def _endpoint_health_record(endpoint, ok, now):
    if ok:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    WebhookEndpoint.objects.filter(
        pk=endpoint.pk,
        active=True,
        consecutive_failures__gte=settings.TRIAGE_WEBHOOK_DISABLE_AFTER,
    ).update(active=False, disabled_at=now)


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
