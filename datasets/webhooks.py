"""Webhooks: tell an app that a golden set has a new version (CI pulls it), that a P0
complaint is waiting (someone should look before its SLA runs out) or that a reviewer
decided on an item (e.g. to sync known issues to a tracker).

An outbox: the delivery row is written in the transaction that made the change, the
send is enqueued after commit, and a periodic task retries whatever is still due, so a
broker or receiver outage loses nothing. Payloads carry ids, digests and URLs, never text.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from feedback.models import Project

from . import selectors
from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)


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
        from .tasks import deliver_webhooks

        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: _enqueue(deliver_webhooks, ids))
    return deliveries


def _enqueue(task, ids):
    try:
        task.delay(delivery_ids=ids)
    except Exception:  # broker down: the periodic retry sends them
        logger.warning("webhooks: could not enqueue deliveries %s; the retry task will", ids)


def version_published_payload(version):
    golden_set = version.golden_set
    path = reverse(
        "api:golden-set-cases", kwargs={"slug": golden_set.slug, "ref": str(version.number)}
    )
    return {
        "project": golden_set.project.slug,
        "golden_set": golden_set.slug,
        "version": version.number,
        "digest": version.digest,
        "tags": version.tags,
        "case_count": version.case_count,
        "published_at": version.published_at.isoformat(),
        "cases_url": settings.TRIAGE_PUBLIC_URL.rstrip("/") + path,
    }


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


P0_EVENTS = ("p0.queued", "p0.sla_at_risk")


def p0_alerts_emit(*, now=None):
    """Announce each open P0 once when it enters the queue (`p0.queued`) and once when its
    SLA is about to run out (`p0.sla_at_risk`). The delivery rows are the memory of what
    was sent, so running this again sends nothing new; at most TRIAGE_P0_ALERTS_PER_RUN
    events per run, most urgent first (the next run carries on)."""
    now = now or timezone.now()
    sla_hours, warn_hours = settings.TRIAGE_P0_SLA_HOURS, settings.TRIAGE_SLA_ALERT_HOURS
    budget = settings.TRIAGE_P0_ALERTS_PER_RUN
    subscribed = defaultdict(set)  # project id → the P0 events its endpoints want
    for project_id, events in WebhookEndpoint.objects.filter(active=True).values_list(
        "project_id", "events"
    ):
        subscribed[project_id].update(e for e in events if e in P0_EVENTS)
    for project in Project.objects.filter(pk__in=[p for p, e in subscribed.items() if e]):
        sent = set(
            WebhookDelivery.objects.filter(
                endpoint__project=project, event__in=P0_EVENTS
            ).values_list("event", "payload__item_id")
        )
        for item in selectors.open_p0_items(project=project).iterator():
            if budget <= 0:
                break
            p0 = selectors.open_p0_view(item, now=now, sla_hours=sla_hours)
            due = ["p0.queued"] + (["p0.sla_at_risk"] if p0["hours_left"] <= warn_hours else [])
            for event in subscribed[project.pk].intersection(due):
                if (event, item.pk) in sent or budget <= 0:
                    continue
                with transaction.atomic():
                    webhook_emit(project=project, event=event, payload=_p0_payload(project, p0))
                budget -= 1
    return settings.TRIAGE_P0_ALERTS_PER_RUN - budget


def _item_url(project, item_id):
    path = reverse("triage:item", kwargs={"project_slug": project.slug, "pk": item_id})
    return settings.TRIAGE_PUBLIC_URL.rstrip("/") + path


def queue_item_labelled_payload(item):
    """Ids and the decision only: criteria and notes stay in Triage."""
    return {
        "project": item.project.slug,
        "item_id": item.pk,
        "cluster_id": item.cluster_id,
        "category": item.cluster.category,
        "decision": item.decision,
        "failure_modes": item.failure_modes,
        "version": item.version,
        "labelled_at": item.labelled_at.isoformat(),
        "item_url": _item_url(item.project, item.pk),
    }


def _p0_payload(project, p0):
    return {
        "project": project.slug,
        **{k: p0[k] for k in ("item_id", "cluster_id", "category", "reports", "status")},
        "first_seen_at": p0["first_seen_at"].isoformat(),
        "hours_left": round(p0["hours_left"], 1),
        "item_url": _item_url(project, p0["item_id"]),
    }
