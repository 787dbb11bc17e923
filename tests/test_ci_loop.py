"""The loop closed, on both runtime shapes: a complaint becomes a case, CI proves the fix in
holdout, and the app hears `cluster.fixed` with the feedback ids it sent (a real worker
does the processing, proof check and delivery in the production shape)."""

import json

import pytest
import requests
from django.test import Client
from standardwebhooks.webhooks import Webhook

from tests.factories import api_key_for
from tests.support import Receiver, wait_for
from triage.models import Cluster, QueueItem
from triage.tasks import run_job
from webhooks.models import WebhookDelivery


@pytest.mark.django_db(transaction=True)
def test_a_fix_proven_in_holdout_reaches_the_app_with_its_feedback_ids(
    live_server, celery_worker_process, project, lead, settings
):
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = True  # the app below listens on 127.0.0.1
    receiver = Receiver()
    api = requests.Session()
    api.headers["Authorization"] = "Bearer " + api_key_for(
        project, ["ingest", "datasets:read", "results:write", "admin"]
    )
    base = f"{live_server.url}/api/v1"
    hook = api.post(f"{base}/webhooks", json={"url": receiver.url, "events": ["cluster.fixed"]})
    assert hook.status_code == 201, hook.text

    # 1. Two users complain about the same refund answer.
    api.post(f"{base}/traces", json={"runs": [{
        "id": "t1", "trace_id": "t1", "name": "refund_bot", "run_type": "chain",
        "inputs": {"question": "Can I get a refund after 20 days?"},
        "outputs": {"answer": "Refunds are impossible."},
    }]}).raise_for_status()  # fmt: skip
    for n in (1, 2):
        response = api.post(f"{base}/feedback", json={
            "id": f"fb-{n}", "trace_id": "t1", "rating": "down", "category": "billing",
            "comment": "It refused my refund within 30 days",
        })  # fmt: skip
        assert response.status_code == 201, response.text
    wait_for(lambda: not QueueItem.objects.none().exists() and _processed(project), what="ingest")
    run_job.delay(project_id=project.pk).get(timeout=120)
    item = QueueItem.objects.get(project=project)

    # 2. A lead claims, labels and promotes; moves the case to holdout; publishes.
    browser = Client()
    browser.force_login(lead)
    assert browser.post(f"/p/{project.slug}/queue/claim").status_code == 302
    browser.post(f"/p/{project.slug}/items/{item.pk}/label", {
        "version": item.version, "decision": "add_to_eval", "failure_mode": "retrieval_miss",
        "criteria": "Offers the 30-day refund.", "expected_output": "Yes, within 30 days.",
    })  # fmt: skip
    browser.post(f"/p/{project.slug}/items/{item.pk}/promote", {
        "new_golden_set": "Refunds", "input": '{"question": "refund after 20 days?"}',
        "expected": '{"output": "Yes, within 30 days."}', "criteria": "Offers the 30-day refund.",
    })  # fmt: skip
    moved = api.patch(f"{base}/golden-sets/refunds/cases/refunds-001", json={"split": "holdout"})
    assert moved.status_code == 200 and moved.json()["split"] == "holdout", moved.text
    version = api.post(f"{base}/golden-sets/refunds/versions", json={"notes": "v1"})
    assert version.status_code == 201, version.text

    # 3. CI: the first run fails, the fix passes.
    results = f"{base}/golden-sets/refunds/versions/1/results"
    failed = api.post(results, json={"commit": "c1", "results": [
        {"case_id": "refunds-001", "passed": False}]})  # fmt: skip
    assert failed.status_code == 201 and failed.json()["failed"] == 1
    passed = api.post(results, json={"commit": "c2", "results": [
        {"case_id": "refunds-001", "passed": True, "score": 1.0}]}).json()  # fmt: skip
    assert passed["newly_passing"] == ["refunds-001"]

    # 4. The cluster is proven fixed and the app hears it, signed, with its feedback ids.
    wait_for(lambda: receiver.requests, what="cluster.fixed to be delivered")
    ((headers, body),) = receiver.requests
    event = Webhook(hook.json()["secret"]).verify(body, headers)
    assert event["event"] == "cluster.fixed"
    assert sorted(event["data"]["feedback_ids"]) == ["fb-1", "fb-2"]
    assert event["data"]["commit"] == "c2" and event["data"]["case_ids"] == ["refunds-001"]
    assert "refused my refund" not in json.dumps(event)  # ids, never the complaint text
    cluster = Cluster.objects.get(pk=item.cluster_id)
    assert (cluster.status, cluster.fixed_commit) == ("fixed", "c2")
    assert WebhookDelivery.objects.get(event="cluster.fixed").status == "delivered"
    page = browser.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "Proven fixed at <code>c2</code>" in page
    receiver.close()


def _processed(project):
    from feedback.models import FeedbackEvent

    events = FeedbackEvent.objects.filter(project=project)
    return events.count() == 2 and not events.filter(processed_at__isnull=True).exists()
