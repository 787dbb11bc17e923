"""A golden set from before revisions migrates with its bytes intact: every case gets
revision 1 (what its latest version holds), old versions keep their body and digest."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from datasets import jsonl, selectors, services
from datasets.models import Case, CaseRevision, GoldenSetVersion

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("datasets", "0004_webhooks_and_project_moved")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def _case(number, criteria="Cites the policy."):
    return {
        "case_id": f"refunds-{number:03d}",
        "input": {"question": f"Refund for <PERSON_1>, order {number}?"},
        "expected": None,
        "criteria": criteria,
        "tags": ["billing"],
        "failure_mode": "",
        "split": "dev",
        "source": "thumbs-down-2026-11-20",
    }


def test_existing_cases_get_revision_1_and_versions_keep_their_bytes(project, lead):
    old = _migrate(BEFORE)
    golden_set = old.get_model("datasets", "GoldenSet").objects.create(
        project_id=project.pk, slug="refunds", name="Refunds"
    )
    OldCase = old.get_model("datasets", "Case")
    for number in (1, 2):
        OldCase.objects.create(golden_set=golden_set, number=number, **_case(number))
    body = jsonl.jsonl_body([_case(1), _case(2)])
    old.get_model("datasets", "GoldenSetVersion").objects.create(
        golden_set=golden_set, number=1, digest=jsonl.digest(body), case_count=2, body=body
    )
    # Edited in the admin after publishing, and a draft never published.
    OldCase.objects.filter(number=2).update(criteria="Edited in the admin.")
    OldCase.objects.create(golden_set=golden_set, number=3, **_case(3))

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    revisions = CaseRevision.objects.order_by("case_number", "revision")
    ranges = [
        (r.case_key, r.revision, r.first_version, r.last_version, r.criteria) for r in revisions
    ]
    assert ranges == [
        ("refunds-001", 1, 1, None, "Cites the policy."),
        ("refunds-002", 1, 1, 1, "Cites the policy."),  # what v1 holds, closed there
        ("refunds-002", 2, 2, None, "Edited in the admin."),  # enters the next version
        ("refunds-003", 1, 2, None, "Cites the policy."),
    ]
    assert list(Case.objects.values_list("revision", flat=True)) == [1, 2, 1]
    v1 = GoldenSetVersion.objects.get()
    assert "".join(selectors.version_jsonl_chunks(version=v1)) == body
    # An old version gets its CSV ETag computed once, over the cases its body holds.
    csv_body = "".join(selectors.version_csv_chunks(version=v1))
    assert selectors.version_csv_digest(version=v1) == jsonl.digest(csv_body)
    assert csv_body.count("refunds-00") == 2

    v2 = services.golden_set_version_publish(golden_set=v1.golden_set, user=lead)
    v1.refresh_from_db()
    assert (v1.body, v1.digest) == (body, jsonl.digest(body))
    lines = [
        json.loads(line)
        for line in "".join(selectors.version_jsonl_chunks(version=v2)).splitlines()
    ]
    assert [c["criteria"] for c in lines] == [
        "Cites the policy.",
        "Edited in the admin.",
        "Cites the policy.",
    ]
    diff = selectors.version_diff(golden_set=v1.golden_set, old=v1, new=v2)
    assert diff["added"] == ["refunds-003"]
    assert [(c["case_id"], c["fields"]) for c in diff["changed"]] == [("refunds-002", ["criteria"])]
