"""How a delivery is sent: Standard Webhooks signatures, one checked address (no DNS
rebinding), and endpoints disabled after failing in a row until re-enabled."""

import base64
import socket

import pytest
import urllib3
from standardwebhooks.webhooks import Webhook

from tests.factories import ProjectFactory
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _delivery(project, url, event="p0.queued"):
    endpoint, secret = services.webhook_endpoint_create(project=project, url=url, events=[event])
    (delivery,) = services.webhook_emit(project=project, event=event, payload={"item_id": 7})
    return endpoint, secret, delivery


def test_a_delivery_verifies_with_the_standard_webhooks_library(project, receiver):
    _, secret, delivery = _delivery(project, receiver.url)
    assert secret.startswith("whsec_")

    assert services.webhook_deliver(delivery_id=delivery.pk) == "delivered"

    ((headers, body),) = receiver.requests
    payload = Webhook(secret).verify(body, headers)  # raises unless the signature holds
    assert payload == {"id": delivery.pk, "event": "p0.queued", "data": {"item_id": 7}}
    assert headers["webhook-id"] == f"whd_{delivery.pk}"
    assert headers["X-Triage-Delivery"] == str(delivery.pk)  # the older headers stay
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(body, headers)


def test_credentials_in_the_url_are_basic_auth_not_part_of_the_host_header(project, receiver):
    url = receiver.url.replace("http://", "http://hook%40app:s%3Acret@")
    _, _, delivery = _delivery(project, url)

    assert services.webhook_deliver(delivery_id=delivery.pk) == "delivered"

    ((headers, _),) = receiver.requests
    assert headers["Host"] == receiver.url.split("/")[2]  # 127.0.0.1:<port>, no credentials
    assert headers["authorization"] == "Basic " + base64.b64encode(b"hook@app:s:cret").decode()


def test_the_send_connects_to_the_address_that_was_checked_not_a_second_answer(
    project, receiver, settings, monkeypatch
):
    """DNS rebinding: the name answers a public address when checked, then 127.0.0.1."""
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = False
    port = int(receiver.url.split(":")[2].split("/")[0])
    answers = iter(["93.184.216.7", "127.0.0.1"])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_dns(host, *args, **kwargs):
        if host != "hooks.ci.example":
            return real_getaddrinfo(host, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    connected = []

    def no_internet(address, *args, **kwargs):
        # The public internet is outside this test's world: record, never connect.
        connected.append(address)
        raise ConnectionRefusedError("no route in tests")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", no_internet)
    assert urllib3.connection.connection.create_connection is no_internet  # before any send
    _, _, delivery = _delivery(project, f"http://hooks.ci.example:{port}/hooks")

    assert services.webhook_deliver(delivery_id=delivery.pk) == "pending"  # retried later

    assert connected == [("93.184.216.7", port)]
    assert receiver.requests == []  # nothing reached loopback
    delivery.refresh_from_db()
    assert delivery.last_error == "ConnectionError"


def test_a_name_that_does_not_resolve_is_refused(admin_api, settings):
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = False
    response = admin_api.post(
        "/api/v1/webhooks",
        {"url": "https://no-such-host.invalid/hooks", "events": ["p0.queued"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["url"] == ["no-such-host.invalid does not resolve."]
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_failing_in_a_row_is_disabled_then_re_enabled(project, admin_api, settings):
    settings.TRIAGE_WEBHOOK_DISABLE_AFTER = 3
    settings.TRIAGE_WEBHOOK_MAX_ATTEMPTS = 1
    dead = "http://127.0.0.1:9/hooks"  # discard port: nothing listens
    endpoint, _, _ = _delivery(project, dead)
    for _ in range(2):
        services.webhook_emit(project=project, event="p0.queued", payload={"item_id": 8})
    other = ProjectFactory()
    _delivery(other, dead)  # another project's failures do not count against this one

    for delivery_id in WebhookDelivery.objects.filter(endpoint=endpoint).values_list("pk", flat=1):
        services.webhook_deliver(delivery_id=delivery_id)

    shown = admin_api.get(f"/api/v1/webhooks/{endpoint.pk}").json()
    assert (shown["active"], shown["consecutive_failures"]) == (False, 3)
    assert shown["disabled_at"] is not None
    # Disabled: new events are not queued for it.
    assert services.webhook_emit(project=project, event="p0.queued", payload={}) == []

    enabled = admin_api.patch(
        f"/api/v1/webhooks/{endpoint.pk}", {"active": True}, content_type="application/json"
    ).json()
    assert (enabled["active"], enabled["consecutive_failures"], enabled["disabled_at"]) == (
        True, 0, None
    )  # fmt: skip
    assert len(services.webhook_emit(project=project, event="p0.queued", payload={})) == 1
    assert WebhookEndpoint.objects.get(project=other).active  # untouched
