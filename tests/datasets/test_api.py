"""Golden-set curation over the public API (API.md "Golden-set curation"): state after each
call, the error shape naming the field, and published bytes that never change."""

import csv
import hashlib
import io
import json

import pytest
from django.test import Client, override_settings

from datasets.models import Case, CaseRevision, GoldenSet, GoldenSetVersion
from tests.factories import CaseFactory, GoldenSetFactory, api_key_for

pytestmark = pytest.mark.django_db

BASE = "/api/v1/golden-sets"


@pytest.fixture
def admin(project):
    return Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})


@pytest.fixture
def reader(project):
    return Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})


@pytest.fixture
def golden_set(project):
    golden_set = GoldenSetFactory(project=project, slug="refunds", name="Refunds")
    for _ in range(3):
        CaseFactory(golden_set=golden_set)
    return golden_set


def _json(client, method, path, body):
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def _jsonl(client, ref, **params):
    response = client.get(f"{BASE}/refunds/versions/{ref}/cases.jsonl", params)
    return response, b"".join(response.streaming_content)


def _publish(client, **body):
    return _json(client, "post", f"{BASE}/refunds/versions", body)


def test_create_a_golden_set_then_a_duplicate_is_409(admin, project):
    response = _json(admin, "post", BASE, {"slug": "returns", "name": "Returns"})
    assert response.status_code == 201
    assert response.json() == {"slug": "returns", "name": "Returns", "latest_version": None}
    assert GoldenSet.objects.get(project=project, slug="returns").name == "Returns"
    again = _json(admin, "post", BASE, {"slug": "returns", "name": "Other"})
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    bad = _json(admin, "post", BASE, {"slug": "Not a slug", "name": "x"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["slug"]
    # A number is not a string: refused, not stored as "5".
    number = _json(admin, "post", BASE, {"slug": "five", "name": 5})
    assert number.status_code == 400 and list(number.json()["fields"]) == ["name"]
    assert not GoldenSet.objects.filter(slug="five").exists()


def test_writes_need_the_admin_scope(reader, golden_set):
    response = _json(reader, "post", BASE, {"slug": "returns", "name": "Returns"})
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    case_id = golden_set.cases.first().case_id
    patch = _json(reader, "patch", f"{BASE}/refunds/cases/{case_id}", {"criteria": "x"})
    assert patch.status_code == 403
    assert reader.get(f"{BASE}/refunds/cases/{case_id}").status_code == 200
    assert CaseRevision.objects.count() == 3


def test_working_copy_lists_cases_with_status_filter(admin, reader, golden_set):
    first = golden_set.cases.first()
    _json(admin, "patch", f"{BASE}/refunds/cases/{first.case_id}", {"status": "retired"})
    rows = reader.get(f"{BASE}/refunds/cases").json()
    assert [(r["case_id"], r["revision"], r["status"]) for r in rows][0] == (
        first.case_id,
        2,
        "retired",
    )
    assert set(rows[0]) >= {"split", "source", "input", "expected", "criteria", "tags"}
    assert rows[0]["last_result"] is None
    retired = reader.get(f"{BASE}/refunds/cases", {"status": "retired"}).json()
    assert [r["case_id"] for r in retired] == [first.case_id]
    bad = reader.get(f"{BASE}/refunds/cases", {"status": "gone"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["status"]
    page = reader.get(f"{BASE}/refunds/cases", {"limit": 1, "offset": 1})
    assert [r["case_id"] for r in page.json()] == [rows[1]["case_id"]]
    assert page["X-Total-Count"] == "3"
    negative = reader.get(f"{BASE}/refunds/cases", {"offset": -1})
    assert negative.status_code == 400 and list(negative.json()["fields"]) == ["offset"]


def test_patch_writes_a_revision_and_leaves_published_bytes_identical(admin, golden_set):
    assert _publish(admin, notes="first").status_code == 201
    before, body_before = _jsonl(admin, "1")
    case_id = golden_set.cases.first().case_id

    response = _json(
        admin,
        "patch",
        f"{BASE}/refunds/cases/{case_id}",
        {"criteria": "Quotes the policy.", "split": "holdout", "tags": ["prod-bug"]},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["revision"], body["split"], body["criteria"]) == (
        2,
        "holdout",
        "Quotes the policy.",
    )
    assert body["revisions"][0]["number"] == 2
    assert body["revisions"][0]["changed"] == ["criteria", "tags", "split"]
    assert [r["pending"] for r in body["revisions"]] == [True, False]
    assert body["revisions"][0]["who"].startswith("api-key:tri_")
    assert body["results"] == []

    after, body_after = _jsonl(admin, "1")
    assert body_after == body_before and after["ETag"] == before["ETag"]
    assert _publish(admin).status_code == 201
    _, latest = _jsonl(admin, "latest")
    assert b"Quotes the policy." in latest and b"Quotes the policy." not in body_before


def test_patch_errors_name_the_field(admin, golden_set):
    case_id = golden_set.cases.first().case_id
    path = f"{BASE}/refunds/cases/{case_id}"
    for body, field in [
        ({"split": "train"}, "split"),
        ({"input": "just text"}, "input"),
        ({"tags": ["Not A Slug"]}, "tags[0]"),
        ({"source": "x"}, "source"),
        ({}, "body"),
    ]:
        response = _json(admin, "patch", path, body)
        assert response.status_code == 400, body
        assert field in response.json()["fields"], response.json()
    missing = _json(admin, "patch", f"{BASE}/refunds/cases/nope", {"criteria": "x"})
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert CaseRevision.objects.count() == 3


def test_publish_twice_without_changes_is_409_nothing_changed(admin, golden_set):
    response = _publish(admin, notes="Initial cases", tags=["prod"])
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["tags"]) == (1, ["prod"])
    assert response.json()["notes"] == "Initial cases"
    again = _publish(admin)
    assert (again.status_code, again.json()["error"]) == (409, "nothing_changed")
    assert GoldenSetVersion.objects.count() == 1


def test_move_a_tag_and_refuse_a_tag_that_is_not_a_slug(admin, reader, golden_set):
    _publish(admin, tags=["prod"])
    case = golden_set.cases.first()
    _json(admin, "patch", f"{BASE}/refunds/cases/{case.case_id}", {"criteria": "v2"})
    _publish(admin, tags=["candidate"])

    moved = _json(admin, "put", f"{BASE}/refunds/tags/prod", {"version": 2})
    assert moved.status_code == 200 and moved.json()["tags"] == ["candidate", "prod"]
    tags = {v.number: v.tags for v in GoldenSetVersion.objects.all()}
    assert tags == {1: [], 2: ["candidate", "prod"]}
    response, _ = _jsonl(reader, "prod")
    assert response["X-Golden-Set-Version"] == "2"

    bad = _json(admin, "put", f"{BASE}/refunds/tags/Not%20a%20Tag", {"version": 1})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["tag"]
    assert "not a tag" in bad.json()["fields"]["tag"][0]
    unknown = _json(admin, "put", f"{BASE}/refunds/tags/prod", {"version": 9})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_diff_between_versions_and_with_itself(admin, reader, golden_set):
    _publish(admin)
    first, second, _ = golden_set.cases.all()
    _json(admin, "patch", f"{BASE}/refunds/cases/{first.case_id}", {"failure_mode": "tool_error"})
    _json(admin, "patch", f"{BASE}/refunds/cases/{second.case_id}", {"status": "quarantined"})
    _publish(admin)

    diff = reader.get(f"{BASE}/refunds/diff", {"from": "1", "to": "latest"}).json()
    assert diff["from"] == 1 and diff["to"] == 2
    assert (diff["added"], diff["removed"]) == ([], [second.case_id])
    assert [(c["case_id"], c["fields"]) for c in diff["changed"]] == [
        (first.case_id, ["failure_mode"])
    ]
    same = reader.get(f"{BASE}/refunds/diff", {"from": "2", "to": "2"}).json()
    assert (same["added"], same["removed"], same["changed"]) == ([], [], [])
    assert reader.get(f"{BASE}/refunds/diff", {"from": "1", "to": "7"}).status_code == 404
    missing = reader.get(f"{BASE}/refunds/diff", {"from": "1"})
    assert missing.status_code == 400 and list(missing.json()["fields"]) == ["to"]


def test_csv_export_has_its_own_etag_and_the_same_cases_as_jsonl(reader, admin, golden_set):
    _publish(admin)
    response = reader.get(f"{BASE}/refunds/versions/1/cases.csv")
    body = b"".join(response.streaming_content)
    assert response["Content-Type"].startswith("text/csv")
    assert response["ETag"] == f'"sha256:{hashlib.sha256(body).hexdigest()}"'
    assert response["X-Golden-Set-Version"] == "1"
    rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    _, jsonl_body = _jsonl(reader, "1")
    lines = [json.loads(line) for line in jsonl_body.splitlines()]
    assert [r["case_id"] for r in rows] == [c["case_id"] for c in lines]
    assert [json.loads(r["input"]) for r in rows] == [c["input"] for c in lines]
    cached = reader.get(
        f"{BASE}/refunds/versions/1/cases.csv", headers={"If-None-Match": response["ETag"]}
    )
    assert cached.status_code == 304
    assert reader.get(f"{BASE}/refunds/versions/nope/cases.csv").status_code == 404


def _import(client, body, content_type="application/x-ndjson"):
    return client.post(f"{BASE}/refunds/import", body, content_type=content_type)


def test_import_ndjson_keeps_given_ids_and_updates_existing_cases(admin, golden_set):
    existing = golden_set.cases.first()
    lines = [
        {"case_id": "imported-1", "input": {"q": "Where is my parcel?"}, "criteria": "Tracks it"},
        {"input": {"q": "Cancel please"}, "tags": ["candidate"], "split": "holdout"},
        {"case_id": existing.case_id, "input": existing.input, "criteria": "Updated by import"},
    ]
    response = _import(admin, "\n".join(json.dumps(line) for line in lines) + "\n")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["created"], body["updated"]) == (2, 1)
    assert body["case_ids"][0] == "imported-1" and body["case_ids"][2] == existing.case_id
    new = Case.objects.get(case_id="imported-1")
    assert new.source.startswith("import-") and new.revision == 1
    assert Case.objects.get(case_id=body["case_ids"][1]).split == "holdout"
    existing.refresh_from_db()
    assert (existing.criteria, existing.revision) == ("Updated by import", 2)


def test_import_csv_with_json_cells(admin, golden_set):
    text = (
        "case_id,input,expected,criteria,tags\r\n"
        'csv-1,"{""q"": ""Refund?""}",,"Says yes, politely","[""prod""]"\r\n'
    )
    response = _import(admin, text, "text/csv")
    assert response.status_code == 201, response.json()
    case = Case.objects.get(case_id="csv-1")
    assert (case.input, case.expected, case.tags) == ({"q": "Refund?"}, None, ["prod"])


@pytest.mark.parametrize(
    ("body", "content_type", "line"),
    [
        ('{"input": {"q": "ok"}}\n{not json\n', "application/x-ndjson", "line 2"),
        ('{"input": {"q": "ok"}, "colour": "red"}\n', "application/x-ndjson", "line 1"),
        (
            '{"case_id": "a", "input": {}}\n{"case_id": "a", "input": {}}\n',
            "application/x-ndjson",
            "line 2",
        ),
        ('case_id,input\r\nx,"{not json"\r\n', "text/csv", "line 2"),
        ("case_id,input,colour\r\nx,{},red\r\n", "text/csv", "line 1"),
    ],
)
def test_any_bad_import_line_is_a_400_naming_it_and_nothing_is_imported(
    admin, golden_set, body, content_type, line
):
    response = _import(admin, body, content_type)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [line]
    assert Case.objects.count() == 3 and CaseRevision.objects.count() == 3


@override_settings(TRIAGE_IMPORT_MAX_BYTES=100)
def test_an_import_past_the_size_limit_is_refused_whole(admin, golden_set):
    body = "".join(json.dumps({"input": {"q": f"question {n}"}}) + "\n" for n in range(10))
    response = _import(admin, body)
    assert response.status_code == 413
    assert list(response.json()["fields"]) == ["file"]
    assert Case.objects.count() == 3


def test_import_of_another_content_type_is_415(admin, golden_set):
    response = _import(admin, "{}", "application/xml")
    assert response.status_code == 415 and "Content-Type" in response.json()["fields"]


def test_unknown_golden_set_and_other_projects_sets(admin, other_project):
    GoldenSetFactory(project=other_project, slug="theirs")
    assert admin.get(f"{BASE}/nope/cases").json()["error"] == "not_found"
    assert admin.get(f"{BASE}/theirs/cases").status_code == 403
