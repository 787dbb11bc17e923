"""Case text written through curation (import, edit) is scrubbed exactly as promotion does:
imported cases with a fresh placeholder set, a promoted case with its queue item's."""

import json

import pytest
from django.test import Client

from datasets.models import Case, CaseRevision
from tests.factories import CaseFactory, GoldenSetFactory, api_key_for, queued_cluster
from triage.models import PiiMapping
from triage.pii import encryption

pytestmark = pytest.mark.django_db

PII = {
    "name": "Maria Gonzalez",
    "email": "maria.gonzalez@example.com",
    "other_name": "Peter Olsen",
    "other_email": "peter.olsen@example.org",
    "openai_key": "sk-proj-Q8aYt3LkP0wZr7VbN2mXc5Jd",
}


@pytest.fixture
def admin(project):
    return Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})


def _leaks(text):
    return [key for key, value in PII.items() if value in text]


def _all_text(golden_set):
    rows = [
        json.dumps([c.input, c.expected, c.criteria])
        for c in Case.objects.filter(golden_set=golden_set)
    ]
    rows += [
        json.dumps([r.input, r.expected, r.criteria])
        for r in CaseRevision.objects.filter(golden_set=golden_set)
    ]
    return "\n".join(rows)


def test_imported_names_emails_and_api_keys_are_stored_and_exported_as_placeholders(admin, project):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    lines = [
        {
            "case_id": "imp-1",
            "input": {"question": f"Hi, I'm {PII['name']} ({PII['email']}). Refund?"},
            "expected": {"output": f"We will email {PII['email']} today."},
            "criteria": f"Never repeats the key {PII['openai_key']}.",
        }
    ]
    csv_text = (
        "case_id,input,criteria\r\n"
        f'imp-2,"{{""q"": ""Call {PII["other_name"]} at {PII["other_email"]}""}}",ok\r\n'
    )
    ndjson = admin.post(
        "/api/v1/golden-sets/refunds/import",
        "\n".join(json.dumps(line) for line in lines),
        content_type="application/x-ndjson",
    )
    assert ndjson.status_code == 201, ndjson.json()
    assert (
        admin.post(
            "/api/v1/golden-sets/refunds/import", csv_text, content_type="text/csv"
        ).status_code
        == 201
    )

    stored = _all_text(golden_set)
    assert not _leaks(stored), stored
    first = Case.objects.get(case_id="imp-1")
    # One fresh placeholder set per imported case: the same value, the same placeholder.
    assert first.input == {"question": "Hi, I'm <PERSON_1> (<EMAIL_ADDRESS_1>). Refund?"}
    assert first.expected == {"output": "We will email <EMAIL_ADDRESS_1> today."}
    assert "sk-proj" not in first.criteria and "<" in first.criteria
    assert Case.objects.get(case_id="imp-2").input["q"] == "Call <PERSON_1> at <EMAIL_ADDRESS_1>"

    published = admin.post(
        "/api/v1/golden-sets/refunds/versions", {"notes": "v1"}, content_type="application/json"
    )
    assert published.status_code == 201
    for suffix in ("jsonl", "csv"):
        response = admin.get(f"/api/v1/golden-sets/refunds/versions/1/cases.{suffix}")
        body = b"".join(response.streaming_content).decode()
        assert "<PERSON_1>" in body and not _leaks(body), body


def test_editing_a_promoted_case_rescrubs_with_its_queue_items_placeholders(admin, project):
    from django.utils import timezone

    item = queued_cluster(project, "billing", timezone.now())
    PiiMapping.objects.create(
        queue_item=item,
        placeholder="<PERSON_1>",
        entity_type="PERSON",
        original_encrypted=encryption.encrypt(PII["name"]),
    )
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    case = CaseFactory(golden_set=golden_set, queue_item=item, cluster=item.cluster)

    response = admin.patch(
        f"/api/v1/golden-sets/refunds/cases/{case.case_id}",
        json.dumps({"criteria": f"Greets {PII['name']}; never mails {PII['other_email']}."}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    case.refresh_from_db()
    # The pasted original maps back to the item's placeholder; the new email gets the
    # item's next number, its original stored encrypted with the item's mappings.
    assert case.criteria == "Greets <PERSON_1>; never mails <EMAIL_ADDRESS_1>."
    mapping = PiiMapping.objects.get(queue_item=item, placeholder="<EMAIL_ADDRESS_1>")
    assert encryption.decrypt(mapping.original_encrypted) == PII["other_email"]
    assert not _leaks(_all_text(golden_set))
