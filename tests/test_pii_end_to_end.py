"""Feedback and traces full of PII go through the whole loop; nothing raw comes out.

HTTP ingest → worker (a real `celery worker` in the production shape, in-process when
embedded) → queue → reviewer pages (rendered HTML) → promote → publish → cases.jsonl.
The pages, the export, the captured logs, the worker's log file and every published Celery
task's arguments are searched for each original value.
"""

import json
import logging
import re

import pytest
import requests
from celery.signals import before_task_publish, task_prerun
from django.contrib.auth.models import Permission
from django.test import Client

from datasets.models import Case
from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory, RunFactory, api_key_for
from tests.support import wait_for
from triage.models import Cluster, PiiMapping, QueueItem
from triage.pii import encryption
from triage.scrubbing import queue_item_scrub
from triage.services import queue_item_default_input
from triage.tasks import run_job

PII = {
    "name": "Maria Gonzalez",
    "lower_name": "jens albrecht",
    "email": "maria.gonzalez@example.com",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "536-22-1234",
    "ip": "203.0.113.77",
    "openai_key": "sk-proj-Q8aYt3LkP0wZr7VbN2mXc5Jd",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYXJpYSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "password": "Tr0ub4dor&3x",
    "password_in_words": "Hunter2!Secret",
    "date_of_birth": "12/03/1985",
    "user_id": "maria-777@corp",
}
QUESTION = (
    f"Hi, I'm {PII['name']} ({PII['email']}, {PII['phone']}). Refund order 48213 to card "
    f"{PII['card']} or IBAN {PII['iban']}; my SSN is {PII['ssn']}."
)


def _assert_clean(where, text):
    leaked = [key for key, value in PII.items() if value in text]
    assert not leaked, f"{where} leaks {leaked}"


@pytest.mark.django_db(transaction=True)
def test_pii_never_leaves_the_service_unscrubbed(
    live_server, celery_worker_process, project, lead, caplog
):
    caplog.set_level(logging.DEBUG)
    published = []

    def record(body=None, headers=None, **kwargs):  # the message sent to the broker
        published.append(json.dumps([body, headers], default=str))

    def record_eager(args=None, kwargs=None, **rest):  # embedded: tasks run in-process
        published.append(json.dumps([args, kwargs], default=str))

    before_task_publish.connect(record, weak=False)
    task_prerun.connect(record_eager, weak=False)
    try:
        _loop(live_server, project, lead)
    finally:
        before_task_publish.disconnect(record)
        task_prerun.disconnect(record_eager)

    assert published, "no Celery task was published"
    for message in published:
        _assert_clean("a Celery task message", message)
    _assert_clean("captured log records", caplog.text)
    _assert_clean("log record args", " ".join(repr(r.args) for r in caplog.records))
    if celery_worker_process is not None:
        worker_log = celery_worker_process.log_path.read_text()
        assert "triage.run_job" in worker_log  # the worker really did the work
        _assert_clean("the worker's log file", worker_log)


def _loop(live_server, project, lead):
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {api_key_for(project)}"
    runs = {
        "runs": [
            {
                "id": "t1",
                "trace_id": "t1",
                "name": "refund_bot",
                "run_type": "chain",
                "inputs": {"question": QUESTION},
                "outputs": {"answer": f"Sorry {PII['name']}, refunds are impossible."},
                "start_time": "2026-11-20T10:00:00Z",
                "end_time": "2026-11-20T10:00:03Z",
            },
            {
                "id": "t1-llm",
                "trace_id": "t1",
                "parent_run_id": "t1",
                "name": "gpt-4o-mini",
                "run_type": "llm",
                "inputs": {
                    "messages": [
                        {"role": "system", "content": f"api_key: {PII['openai_key']}"},
                        {"role": "user", "content": QUESTION},
                    ]
                },
                "outputs": {"content": f"Customer ip {PII['ip']} flagged."},
                "start_time": "2026-11-20T10:00:00.5Z",
                "end_time": "2026-11-20T10:00:01.9Z",
            },
            {
                "id": "t1-tool",
                "trace_id": "t1",
                "parent_run_id": "t1",
                "name": "crm_lookup",
                "run_type": "tool",
                "inputs": {"headers": {"Authorization": f"Bearer {PII['jwt']}"}},
                "error": f"AuthError: password={PII['password']} rejected for {PII['email']}",
                "start_time": "2026-11-20T10:00:02Z",
                "end_time": "2026-11-20T10:00:02.5Z",
            },
        ]
    }
    response = http.post(f"{live_server.url}/api/v1/traces", json=runs)
    assert response.status_code == 200, response.text
    events = [
        {
            "id": "fb-1",
            "trace_id": "t1",
            "rating": "down",
            "category": "billing",
            "comment": f"Wrong! {PII['name']} here, {PII['email']}, card {PII['card']}. "
            f"I was born on {PII['date_of_birth']} and my password is "
            f"{PII['password_in_words']}",
            "customer_tier": "enterprise",
            "user_id": PII["user_id"],
            "created_at": "2026-11-20T10:01:00Z",
        },
        {
            "id": "fb-2",
            "trace_id": "t1",
            "rating": "down",
            "category": "billing",
            "comment": f"this is {PII['lower_name']}, same refund problem as {PII['name']}'s",
            "customer_tier": "pro",
            "user_id": PII["user_id"],
            "created_at": "2026-11-20T10:02:00Z",
        },
    ]
    for event in events:
        response = http.post(f"{live_server.url}/api/v1/feedback", json=event)
        assert response.status_code == 201, response.text
    wait_for(
        lambda: FeedbackEvent.objects.filter(processed_at__isnull=False).count() == 2,
        what="the feedback to be processed",
    )
    assert not FeedbackEvent.objects.filter(user_hash__contains="maria").exists()
    run_job.delay(project_id=project.pk).get(timeout=180)

    items = list(QueueItem.objects.filter(project=project).select_related("cluster"))
    assert items and all(item.scrubbed for item in items)
    for item in items:
        _assert_clean(f"queue item {item.pk}'s scrubbed view", json.dumps(item.scrubbed))
    mapped = {m.entity_type for m in PiiMapping.objects.filter(queue_item__in=items)}
    assert {"PERSON", "EMAIL_ADDRESS", "CREDIT_CARD", "SECRET"} <= mapped

    browser = Client()
    browser.force_login(lead)
    queue_page = browser.get(f"/p/{project.slug}/queue/").content.decode()
    _assert_clean("the queue page", queue_page)
    response = browser.post(f"/p/{project.slug}/queue/claim")
    assert response.status_code == 302
    item = QueueItem.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])
    page = browser.get(response.url).content.decode()
    assert "&lt;PERSON_1&gt;" in page and "&lt;EMAIL_ADDRESS_1&gt;" in page
    # The comment's date of birth and password; "Sorry" stays and the greeted person is
    # the same <PERSON_1> as in the comments.
    placeholder = r"<mark[^>]*>(?:<button[^>]*>)?&lt;{}&gt;"
    assert re.search(r"born on " + placeholder.format("DATE_OF_BIRTH_1"), page)
    assert re.search(r"my password is " + placeholder.format(r"PASSWORD_\d"), page)
    assert re.search(r"Sorry " + placeholder.format("PERSON_1"), page)
    _assert_clean("the item page", page)

    response = browser.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {
            "version": item.version,
            "decision": "add_to_eval",
            "failure_modes": ["retrieval_miss"],
            "criteria": "Offers the 30-day refund.",
            "expected_output": "You can get a refund within 30 days.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    item.refresh_from_db()
    response = browser.post(
        f"/p/{project.slug}/items/{item.pk}/promote",
        {
            "new_golden_set": "Refunds",
            "input": json.dumps(queue_item_default_input(item)),
            "expected": '{"output": "You can get a refund within 30 days."}',
            "criteria": "Offers the 30-day refund.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    response = browser.post(
        f"/p/{project.slug}/golden-sets/refunds/publish", {"notes": "v1", "tag": "prod"}
    )
    assert response.status_code == 302
    detail = browser.get(f"/p/{project.slug}/golden-sets/refunds/").content.decode()
    assert "refunds-001" in detail
    _assert_clean("the golden set page", detail)

    export = http.get(f"{live_server.url}/api/v1/golden-sets/refunds/versions/1/cases.jsonl")
    assert export.status_code == 200
    body = export.content.decode()
    assert '"case_id":"refunds-001"' in body and "<PERSON_1>" in body
    _assert_clean("cases.jsonl", body)


# --- text a reviewer types or pastes into the promote form --------------------------------


def _scrubbed_item_with_pii(project):
    cluster = Cluster.objects.create(project=project, fingerprint="paste", event_count=1)
    FeedbackEventFactory(
        project=project,
        cluster=cluster,
        trace_id="t-paste",
        comment=f"Wrong refund! I'm {PII['name']}, {PII['email']}",
    )
    RunFactory(
        project=project,
        run_id="t-paste",
        trace_id="t-paste",
        name="refund_bot",
        inputs={"question": f"Refund {PII['name']}, SSN {PII['ssn']}"},
        outputs={"answer": "Refunds take 30 days."},
    )
    return queue_item_scrub(item=QueueItem.objects.create(project=project, cluster=cluster))


@pytest.mark.django_db
def test_originals_pasted_into_the_promote_form_never_reach_the_export(project, lead, api):
    item = _scrubbed_item_with_pii(project)
    lead.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    browser = Client()
    browser.force_login(lead)
    base = f"/p/{project.slug}/items/{item.pk}"
    # The reviewer may reveal, so they can copy the original back into the case.
    assert PII["name"] in browser.post(f"{base}/pii/PERSON_1").content.decode()
    before = {m.placeholder: bytes(m.original_encrypted) for m in item.pii_mappings.all()}
    assert set(before) == {"<PERSON_1>", "<EMAIL_ADDRESS_1>", "<US_SSN_1>"}
    browser.post(f"{base}/claim")  # labelling needs the lease
    response = browser.post(
        f"{base}/label",
        {"version": item.version, "decision": "add_to_eval", "failure_modes": []},
    )
    assert response.status_code == 302

    new_name, new_email = "Peter Olsen", "peter.olsen@example.org"
    response = browser.post(
        f"{base}/promote",
        {
            "new_golden_set": "Refunds",
            # pasted originals, an existing placeholder, a casing the detector never saw
            "input": json.dumps(
                {"question": f"Refund {PII['name']}, SSN {PII['ssn']}", "cc": "<EMAIL_ADDRESS_1>"}
            ),
            "expected": json.dumps(
                {
                    "output": f"Sorry {PII['name'].lower()}, {new_name} from billing "
                    f"({new_email}) will call you back."
                }
            ),
            "criteria": f"Never repeats {PII['email']}.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get()
    assert case.input == {
        "question": "Refund <PERSON_1>, SSN <US_SSN_1>",
        "cc": "<EMAIL_ADDRESS_1>",
    }
    reply = "Sorry <PERSON_1>, <PERSON_2> from billing (<EMAIL_ADDRESS_2>) will call you back."
    assert case.expected == {"output": reply}
    assert case.criteria == "Never repeats <EMAIL_ADDRESS_1>."

    # New values got the case's next numbers, stored encrypted; old mappings are untouched.
    after = {m.placeholder: bytes(m.original_encrypted) for m in item.pii_mappings.all()}
    assert set(after) == set(before) | {"<PERSON_2>", "<EMAIL_ADDRESS_2>"}
    assert all(after[p] == before[p] for p in before)
    assert new_name.encode() not in after["<PERSON_2>"]
    assert encryption.decrypt(after["<PERSON_2>"]) == new_name
    assert encryption.decrypt(after["<EMAIL_ADDRESS_2>"]) == new_email
    revealed = browser.post(f"{base}/pii/PERSON_2").content.decode()
    assert new_name in revealed

    response = browser.post(f"/p/{project.slug}/golden-sets/refunds/publish", {"notes": "v1"})
    assert response.status_code == 302
    export = api.get("/api/v1/golden-sets/refunds/versions/1/cases.jsonl")
    assert export.status_code == 200
    body = b"".join(export.streaming_content) if export.streaming else export.content
    assert b"<PERSON_2>" in body and b"<US_SSN_1>" in body
    for original in (PII["name"], PII["name"].lower(), PII["email"], PII["ssn"], new_name,
                     new_email):  # fmt: skip
        assert original.encode() not in body, original
