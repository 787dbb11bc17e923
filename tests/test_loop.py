"""The whole loop, end to end: feedback with PII in → queue → review → publish → CI pull.

Runs on both runtime shapes: with DATABASE_URL + REDIS_URL a real `celery worker`
subprocess does the processing; on the embedded default the tasks run in-process.
"""

import hashlib

import pytest
import requests
from django.test import Client

from datasets.models import Case
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import wait_for
from triage.models import QueueItem
from triage.tasks import run_job

PII = {
    "name": "Maria Gonzalez",
    "email": "maria.gonzalez@example.com",
    "phone": "+1 415-555-0134",
    "card": "4111 1111 1111 1111",
}
QUESTION = (
    f"Hi, I'm {PII['name']} ({PII['email']}, {PII['phone']}). Refund order 48213 "
    f"to my card {PII['card']}?"
)


@pytest.mark.django_db(transaction=True)
def test_feedback_with_pii_becomes_a_published_scrubbed_golden_case(
    live_server, celery_worker_process, project, lead
):
    key = api_key_for(project)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"

    # 1. The app posts a trace and a thumbs-down over HTTP.
    runs = {
        "runs": [
            {
                "id": "t1",
                "trace_id": "t1",
                "name": "refund_bot",
                "run_type": "chain",
                "inputs": {"question": QUESTION},
                "outputs": {"answer": "Refunds are impossible."},
                "start_time": "2026-11-20T10:00:00Z",
                "end_time": "2026-11-20T10:00:02Z",
            },
            {
                "id": "t1-llm",
                "trace_id": "t1",
                "parent_run_id": "t1",
                "name": "gpt-4o-mini",
                "run_type": "llm",
                "inputs": {"messages": [{"role": "user", "content": QUESTION}]},
                "outputs": {"content": "Refunds are impossible."},
                "prompt_tokens": 120,
                "completion_tokens": 6,
                "start_time": "2026-11-20T10:00:00.5Z",
                "end_time": "2026-11-20T10:00:01.9Z",
            },
        ]
    }
    response = http.post(f"{live_server.url}/api/v1/traces", json=runs)
    assert response.status_code == 200, response.text
    event = {
        "id": "fb-1",
        "trace_id": "t1",
        "rating": "down",
        "category": "billing",
        "comment": f"Wrong! {PII['name']} here, email {PII['email']}, card {PII['card']}",
        "customer_tier": "enterprise",
        "user_id": "cust-77",
        "created_at": "2026-11-20T10:01:00Z",
    }
    response = http.post(f"{live_server.url}/api/v1/feedback", json=event)
    assert response.status_code == 201, response.text
    assert response.json() == {"id": "fb-1", "status": "created"}

    # 2. The processing task runs (in the worker, or in-process) and the triage job queues it.
    wait_for(
        lambda: FeedbackEvent.objects.filter(client_id="fb-1", processed_at__isnull=False).exists(),
        what="the feedback to be processed",
    )
    stored = FeedbackEvent.objects.get(client_id="fb-1")
    assert stored.user_hash and "cust-77" not in stored.user_hash
    run_job.delay(project_id=project.pk).get(timeout=120)
    item = QueueItem.objects.get(project=project)
    assert item.cluster.event_count == 1

    # 3. A reviewer claims, reads, labels and promotes through the views.
    browser = Client()
    browser.force_login(lead)
    response = browser.post(f"/p/{project.slug}/queue/claim")
    assert response.status_code == 302
    assert response.url == f"/p/{project.slug}/items/{item.pk}/"
    page = browser.get(response.url).content.decode()
    assert "&lt;PERSON_1&gt;" in page and "&lt;CREDIT_CARD_1&gt;" in page
    for value in PII.values():
        assert value not in page
    response = browser.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {
            "version": 1,
            "decision": "add_to_eval",
            "failure_mode": "retrieval_miss",
            "criteria": "Offers the 30-day refund.",
            "expected_output": "You can get a refund within 30 days.",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.decision, item.version) == ("labelled", "add_to_eval", 2)
    response = browser.post(
        f"/p/{project.slug}/items/{item.pk}/promote",
        {
            "new_golden_set": "Refunds",
            "input": '{"question": "Hi, I\'m <PERSON_1> (<EMAIL_ADDRESS_1>). Refund order 48213?"}',
            "expected": '{"output": "You can get a refund within 30 days."}',
            "criteria": "Offers the 30-day refund.",
        },
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.case_id == "refunds-001"
    assert case.source == "thumbs-down-2026-11-20"
    assert case.cluster_id == item.cluster_id and case.trace_ids == ["t1"]

    # 4. The lead publishes.
    response = browser.post(
        f"/p/{project.slug}/golden-sets/refunds/publish", {"notes": "v1", "tag": "prod"}
    )
    assert response.status_code == 302
    detail = browser.get(f"/p/{project.slug}/golden-sets/refunds/").content.decode()
    assert "refunds-001" in detail and "Time to eval" in detail

    # 5. CI pulls the pinned version.
    url = f"{live_server.url}/api/v1/golden-sets/refunds/versions/1/cases.jsonl"
    response = http.get(url)
    assert response.status_code == 200
    body = response.content
    assert response.headers["ETag"] == f'"sha256:{hashlib.sha256(body).hexdigest()}"'
    assert response.headers["X-Golden-Set-Version"] == "1"
    assert b'"case_id":"refunds-001"' in body
    for value in PII.values():
        assert value.encode() not in body
    again = http.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    by_tag = http.get(f"{live_server.url}/api/v1/golden-sets/refunds/versions/prod/cases.jsonl")
    assert by_tag.content == body
    case.refresh_from_db()
    assert case.time_to_eval_hours is not None and case.time_to_eval_hours > 0
