"""Webhooks: a new golden-set version reaches the app's endpoint, signed, retried, never lost.

The receiving app is outside our world, so it is a small fake HTTP server here; everything
on our side (publish view, outbox rows, the worker, retries) is the real thing.
"""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from datasets import services
from datasets.models import Case, GoldenSet
from tests.factories import ProjectFactory, api_key_for, queued_cluster
from tests.support import Receiver, wait_for
from triage import webhook_events
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tasks import retry_due


def _golden_set_with_a_case(project):
    golden_set = GoldenSet.objects.create(project=project, slug="refunds", name="Refunds")
    Case.objects.create(
        golden_set=golden_set,
        number=1,
        case_id="refunds-001",
        input={"question": "Can <PERSON_1> get a refund?"},
        source="thumbs-down-2026-11-20",
    )
    return golden_set


def _verify(headers, body, secret):
    expected = hmac.new(
        secret.encode(), f"{headers['X-Triage-Timestamp']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(headers["X-Triage-Signature"], f"sha256={expected}")


@pytest.mark.django_db(transaction=True)
def test_publishing_a_version_notifies_the_apps_endpoint_signed(
    celery_worker_process, project, lead, receiver
):
    endpoint, secret = webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )
    golden_set = _golden_set_with_a_case(project)
    client = Client()
    client.force_login(lead)

    client.post(f"/p/{project.slug}/golden-sets/refunds/publish", {"tag": "prod"})

    wait_for(lambda: receiver.requests, timeout=60, what="the webhook to arrive")
    version = golden_set.versions.get()
    headers, body = receiver.requests[0]
    assert _verify(headers, body, secret)
    assert not _verify(headers, body, "whsec_someone-else")
    assert headers["X-Triage-Event"] == "golden_set.version_published"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert headers["X-Triage-Delivery"] == str(delivery.pk)
    event = json.loads(body)
    assert event["event"] == "golden_set.version_published" and event["id"] == delivery.pk
    assert event["data"] == {
        "project": "acme",
        "golden_set": "refunds",
        "version": 1,
        "digest": version.digest,
        "tags": ["prod"],
        "case_count": 1,
        "published_at": version.published_at.isoformat(),
        "cases_url": "http://127.0.0.1:8000/api/v1/golden-sets/refunds/versions/1/cases.jsonl",
    }
    assert b"PERSON" not in body  # ids and digests only, never case text
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered",
        what="the delivery to be recorded",
    )
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)


@pytest.mark.django_db
def test_a_failed_delivery_is_retried_with_backoff_until_it_lands(project, lead, settings):
    settings.TRIAGE_WEBHOOK_RETRY_SECONDS = 30
    receiver = Receiver(statuses=[503, 200])
    try:
        webhook_services.webhook_endpoint_create(
            project=project, url=receiver.url, events=["golden_set.version_published"]
        )
        services.golden_set_version_publish(golden_set=_golden_set_with_a_case(project), user=lead)
        delivery = WebhookDelivery.objects.get()
        t0 = timezone.now()

        assert webhook_services.webhook_deliver(delivery_id=delivery.pk, now=t0) == "pending"
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_status_code) == (1, 503)
        assert delivery.next_attempt_at == t0 + timedelta(seconds=30)
        # Not due yet: nothing is sent.
        soon = t0 + timedelta(seconds=10)
        assert webhook_services.webhook_deliver(delivery_id=delivery.pk, now=soon) is None
        assert len(receiver.requests) == 1

        later = t0 + timedelta(seconds=31)
        assert webhook_services.webhook_deliver(delivery_id=delivery.pk, now=later) == "delivered"
        assert webhook_services.webhook_deliver(delivery_id=delivery.pk, now=later) is None  # once
        assert [h["X-Triage-Delivery"] for h, _ in receiver.requests] == [str(delivery.pk)] * 2
        assert receiver.requests[0][1] == receiver.requests[1][1]  # the same event, resent
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.delivered_at) == (
            "delivered",
            2,
            later,
        )
    finally:
        receiver.close()


@pytest.mark.django_db
def test_an_unreachable_endpoint_is_given_up_after_the_last_attempt(project, lead, settings):
    settings.TRIAGE_WEBHOOK_MAX_ATTEMPTS = 3
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens there any more
    webhook_services.webhook_endpoint_create(
        project=project, url=url, events=["golden_set.version_published"]
    )
    services.golden_set_version_publish(golden_set=_golden_set_with_a_case(project), user=lead)
    delivery = WebhookDelivery.objects.get()

    now = timezone.now()
    statuses = []
    for _ in range(3):
        statuses.append(webhook_services.webhook_deliver(delivery_id=delivery.pk, now=now))
        now += timedelta(days=1)

    assert statuses == ["pending", "pending", "failed"]
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (3, None)
    assert delivery.last_error == "ConnectionError"


@pytest.mark.django_db
def test_the_periodic_retry_sends_deliveries_whose_first_send_never_ran(project, receiver):
    """E.g. the broker was down when the version was published: the row is there."""
    endpoint, _ = webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )
    stuck = WebhookDelivery.objects.create(
        endpoint=endpoint, event="golden_set.version_published", payload={"version": 7}
    )
    later = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="golden_set.version_published",
        payload={"version": 8},
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )

    assert retry_due() == 1

    assert [json.loads(b)["data"] for _, b in receiver.requests] == [{"version": 7}]
    assert WebhookDelivery.objects.get(pk=stuck.pk).status == "delivered"
    assert WebhookDelivery.objects.get(pk=later.pk).status == "pending"


@pytest.mark.django_db
def test_only_active_subscribed_endpoints_of_the_project_get_the_event(project, lead, receiver):
    webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )
    off, _ = webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )
    WebhookEndpoint.objects.filter(pk=off.pk).update(active=False)
    webhook_services.webhook_endpoint_create(
        project=ProjectFactory(slug="globex"),
        url=receiver.url,
        events=["golden_set.version_published"],
    )

    services.golden_set_version_publish(golden_set=_golden_set_with_a_case(project), user=lead)

    assert WebhookDelivery.objects.get().endpoint.project == project


# --- the management API (admin scope) ---


@pytest.mark.django_db
def test_api_creates_lists_and_deletes_webhooks_showing_the_secret_once(admin_api, project):
    created = admin_api.post(
        "/api/v1/webhooks",
        {"url": "https://ci.example.com/hooks/triage", "events": ["golden_set.version_published"]},
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["active"] is True
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert (endpoint.project, endpoint.secret) == (project, body["secret"])

    listed = admin_api.get("/api/v1/webhooks").json()
    assert [w["url"] for w in listed] == ["https://ci.example.com/hooks/triage"]
    assert "secret" not in listed[0]
    assert admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries").json() == []

    assert admin_api.delete(f"/api/v1/webhooks/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "not a url", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "ftp://ci.example.com/x", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "ftp://x", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "http:///nohost", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "http://exa mple.com", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["golden_set.version_published"]}, "url"),
        ({"url": " https://ci.example.com/x", "events": ["golden_set.version_published"]}, "url"),
        (
            {"url": "https://ci.example.com:99999/", "events": ["golden_set.version_published"]},
            "url",
        ),
        ({"url": "https://[::1", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "https://a\u200db.example/", "events": ["golden_set.version_published"]}, "url"),
        ({"url": "https://b\u00fccher.example/\u00e4", "events": ["p0.queued"]}, "url"),
        ({"url": 5, "events": ["golden_set.version_published"]}, "url"),
        ({"url": "https://ci.example.com/x", "events": ["case.deleted"]}, "events[0]"),
        ({"url": "https://ci.example.com/x", "events": []}, "events"),
    ],
)
def test_api_refuses_bad_webhooks_naming_the_field(admin_api, body, field):
    response = admin_api.post("/api/v1/webhooks", body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://receiver:8080/hook",  # a docker-compose service: no dot in the host
        "HTTPS://ci.example.com/a%20b?x=1&y=(2)#top",
        "http://[::1]:9000/",
        "https://" + "a" * 300 + "/",  # a reg-name has no length limit of its own
    ],
)
def test_api_accepts_any_absolute_http_url_the_schema_allows(admin_api, project, url):
    created = admin_api.post(
        "/api/v1/webhooks",
        {"url": url, "events": ["golden_set.version_published"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    endpoint = WebhookEndpoint.objects.get(pk=created.json()["id"])
    assert (endpoint.project, endpoint.url, created.json()["url"]) == (project, url, url)
    endpoint.full_clean()  # the admin (and any ModelForm) accepts what the API stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://B\u00fccher.example/hook?q=\u00e4#x", None),  # the path is not the host's
        ("https://B\u00fccher.example/hook", "https://xn--bcher-kva.example/hook"),
        ("http://ci:s3cret@\u4f8b\u3048.jp:8443/h", "http://ci:s3cret@xn--r8jz45g.jp:8443/h"),
    ],
)
def test_api_stores_an_international_host_the_way_dns_spells_it(admin_api, given, stored):
    created = admin_api.post(
        "/api/v1/webhooks",
        {"url": given, "events": ["golden_set.version_published"]},
        content_type="application/json",
    )
    if stored is None:  # other non-ASCII is still refused, naming the field
        assert created.status_code == 400 and list(created.json()["fields"]) == ["url"]
        assert "percent-encode" in created.json()["fields"]["url"][0]
        return
    assert created.status_code == 201, created.json()
    assert created.json()["url"] == stored
    assert WebhookEndpoint.objects.get().url == stored


@pytest.mark.django_db
def test_the_model_refuses_what_the_api_refuses(project):
    endpoint = WebhookEndpoint(
        project=project, url="javascript:alert(1)", secret="s", events=["p0.queued"]
    )
    with pytest.raises(ValidationError) as refused:
        endpoint.full_clean()
    assert list(refused.value.message_dict) == ["url"]


@pytest.mark.django_db
def test_api_needs_the_admin_scope_and_keeps_projects_apart(admin_api, project, receiver):
    reader = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})
    assert reader.get("/api/v1/webhooks").status_code == 403
    theirs, _ = webhook_services.webhook_endpoint_create(
        project=ProjectFactory(slug="globex"),
        url=receiver.url,
        events=["golden_set.version_published"],
    )
    assert admin_api.delete(f"/api/v1/webhooks/{theirs.pk}").status_code == 404
    assert admin_api.get(f"/api/v1/webhooks/{theirs.pk}/deliveries").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


# --- P0 alerts: announced once when queued, once more before the SLA runs out ---


@pytest.mark.django_db
def test_p0_alerts_announce_each_open_p0_once_and_warn_before_its_sla(project, receiver, settings):
    settings.TRIAGE_SLA_ALERT_HOURS = 24
    endpoint, secret = webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["p0.queued", "p0.sla_at_risk"]
    )
    webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )  # not subscribed to P0 alerts
    now = timezone.now()
    late = queued_cluster(project, "unsafe", now - timedelta(hours=60))  # 12 h left
    fresh = queued_cluster(project, "billing", now - timedelta(hours=5))  # 67 h left
    queued_cluster(project, "wrong", now - timedelta(hours=70))  # not P0

    assert webhook_events.p0_alerts_emit(now=now) == 3
    assert webhook_events.p0_alerts_emit(now=now) == 0  # each announced once
    sent = sorted((d.event, d.payload["item_id"]) for d in WebhookDelivery.objects.all())
    assert sent == sorted(
        [("p0.queued", late.pk), ("p0.sla_at_risk", late.pk), ("p0.queued", fresh.pk)]
    )
    assert {d.endpoint_id for d in WebhookDelivery.objects.all()} == {endpoint.pk}

    # 44 h later the fresh one has 23 h left: now it is at risk too.
    assert webhook_events.p0_alerts_emit(now=now + timedelta(hours=44)) == 1
    warning = WebhookDelivery.objects.get(event="p0.sla_at_risk", payload__item_id=fresh.pk)
    assert warning.payload == {
        "project": "acme",
        "item_id": fresh.pk,
        "cluster_id": fresh.cluster_id,
        "category": "billing",
        "reports": 3,
        "status": "pending",
        "first_seen_at": fresh.cluster.first_seen_at.isoformat(),
        "hours_left": 23.0,
        "item_url": f"http://127.0.0.1:8000/p/acme/items/{fresh.pk}/",
    }

    # The app hears it, signed like every delivery.
    assert retry_due() == 4
    events = sorted(json.loads(body)["event"] for _, body in receiver.requests)
    assert events == ["p0.queued", "p0.queued", "p0.sla_at_risk", "p0.sla_at_risk"]
    assert all(_verify(headers, body, secret) for headers, body in receiver.requests)


@pytest.mark.django_db
def test_p0_alerts_are_bounded_per_run_most_urgent_first(project, receiver, settings):
    settings.TRIAGE_P0_ALERTS_PER_RUN = 2
    webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["p0.queued", "p0.sla_at_risk"]
    )
    now = timezone.now()
    late = queued_cluster(project, "unsafe", now - timedelta(hours=60))  # queued + at risk
    fresh = queued_cluster(project, "billing", now - timedelta(hours=5))  # queued

    assert [webhook_events.p0_alerts_emit(now=now) for _ in range(3)] == [2, 1, 0]
    sent = list(WebhookDelivery.objects.order_by("pk").values_list("payload__item_id", flat=True))
    assert sent == [late.pk, late.pk, fresh.pk]


@pytest.mark.django_db
def test_a_label_is_announced_with_the_decision_and_no_text(project, reviewer, receiver):
    from triage.services import queue_item_claim, queue_item_label

    endpoint, secret = webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["queue_item.labelled"]
    )
    item = queued_cluster(project, "wrong", timezone.now() - timedelta(hours=3))
    queue_item_claim(item=item, user=reviewer)

    item = queue_item_label(
        item=item,
        user=reviewer,
        version=item.version,
        decision="known_issue",
        failure_modes=["retrieval_miss"],
        notes="Same as the shipping-times bug",
    )

    assert retry_due() == 1
    headers, body = receiver.requests[0]
    assert _verify(headers, body, secret) and headers["X-Triage-Event"] == "queue_item.labelled"
    assert json.loads(body)["data"] == {
        "project": "acme",
        "item_id": item.pk,
        "cluster_id": item.cluster_id,
        "category": "wrong",
        "decision": "known_issue",
        "failure_modes": ["retrieval_miss"],
        "version": 2,
        "labelled_at": item.labelled_at.isoformat(),
        "item_url": f"http://127.0.0.1:8000/p/acme/items/{item.pk}/",
    }
    assert b"shipping" not in body


# --- Triage does not call its own network unless told to ---


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api/v1/feedback",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/hooks",
        "http://[::1]:6379/",
        "http://localhost:5432/",
    ],
)
def test_api_refuses_webhooks_to_internal_addresses(admin_api, settings, url):
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = False
    response = admin_api.post(
        "/api/v1/webhooks",
        {"url": url, "events": ["golden_set.version_published"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "non-public address" in response.json()["fields"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_delivery_to_an_internal_address_is_refused_not_sent(project, lead, receiver, settings):
    """E.g. the host's DNS now points inside: checked at every send, not only at creation."""
    webhook_services.webhook_endpoint_create(
        project=project, url=receiver.url, events=["golden_set.version_published"]
    )
    services.golden_set_version_publish(golden_set=_golden_set_with_a_case(project), user=lead)
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = False

    assert retry_due() == 1

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "127.0.0.1" in delivery.last_error and "non-public" in delivery.last_error
    assert receiver.requests == []
