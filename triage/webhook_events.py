"""What triage tells apps by webhook (through the webhooks outbox): each open P0 once
when it enters the queue and once when its SLA is about to run out, and each reviewer's
decision. Payloads carry ids and URLs, never text."""

from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import public_url, webhook_emit

from . import time_to_eval

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
        for item in time_to_eval.open_p0_items(project=project).iterator():
            if budget <= 0:
                break
            p0 = time_to_eval.open_p0_view(item, now=now, sla_hours=sla_hours)
            due = ["p0.queued"] + (["p0.sla_at_risk"] if p0["hours_left"] <= warn_hours else [])
            for event in subscribed[project.pk].intersection(due):
                if (event, item.pk) in sent or budget <= 0:
                    continue
                with transaction.atomic():
                    webhook_emit(project=project, event=event, payload=_p0_payload(project, p0))
                budget -= 1
    return settings.TRIAGE_P0_ALERTS_PER_RUN - budget


def _item_url(project, item_id):
    return public_url(reverse("triage:item", kwargs={"project_slug": project.slug, "pk": item_id}))


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
