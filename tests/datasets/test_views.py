"""Golden-set pages as plain form posts: leads curate, everyone reads notes, diffs and
downloads; hostile case text is escaped."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from datasets import selectors
from datasets.models import Case, CaseRevision, GoldenSet, GoldenSetVersion
from tests.factories import CaseFactory, GoldenSetFactory, queued_cluster

pytestmark = pytest.mark.django_db

HOSTILE = '<script>window.__xss=1</script> refund <img src=x onerror="alert(1)">'


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def golden_set(project):
    golden_set = GoldenSetFactory(project=project, slug="refunds", name="Refunds")
    item = queued_cluster(project, "billing", timezone.now())
    CaseFactory(golden_set=golden_set, queue_item=item, cluster=item.cluster, criteria=HOSTILE)
    CaseFactory(golden_set=golden_set)
    return golden_set


def _base(project):
    return f"/p/{project.slug}/golden-sets"


def _publish(client, project, **data):
    return client.post(f"{_base(project)}/refunds/publish", data)


def test_a_lead_creates_a_set_and_a_reviewer_may_not(project, lead, reviewer):
    response = client_for(lead).post(
        f"{_base(project)}/new", {"name": "Returns", "slug": "returns"}
    )
    assert response.status_code == 302 and response.url == f"{_base(project)}/returns/"
    assert GoldenSet.objects.get(slug="returns").name == "Returns"
    again = client_for(lead).post(f"{_base(project)}/new", {"name": "R", "slug": "returns"})
    assert again.status_code == 400 and "already exists" in again.content.decode()
    denied = client_for(reviewer).post(f"{_base(project)}/new", {"name": "X", "slug": "x"})
    assert denied.status_code == 403 and not GoldenSet.objects.filter(slug="x").exists()


def test_the_set_page_shows_notes_status_revision_lineage_and_escapes_text(
    project, lead, reviewer, golden_set
):
    assert (
        _publish(
            client_for(lead), project, notes="First <b>cut</b>", tag="prod candidate"
        ).status_code
        == 302
    )
    version = GoldenSetVersion.objects.get()
    assert version.tags == ["prod", "candidate"] and version.notes == "First <b>cut</b>"

    page = client_for(reviewer).get(f"{_base(project)}/refunds/").content.decode()
    assert "First &lt;b&gt;cut&lt;/b&gt;" in page
    assert "<script>window.__xss" not in page and "&lt;script&gt;" in page
    case = golden_set.cases.first()
    assert f'href="/p/{project.slug}/items/{case.queue_item_id}/"' in page
    assert f'href="{_base(project)}/refunds/versions/1/cases.csv"' in page
    assert ">active</span>" in page
    assert "Publish new version" not in page and "Import cases" not in page


def test_lead_edits_a_case_as_a_new_revision_and_published_bytes_stay(project, lead, golden_set):
    client = client_for(lead)
    _publish(client, project)
    version = GoldenSetVersion.objects.get()
    before = "".join(selectors.version_jsonl_chunks(version=version))
    case = golden_set.cases.last()
    url = f"{_base(project)}/refunds/cases/{case.case_id}"

    response = client.post(
        f"{url}/edit",
        {
            "input": json.dumps({"question": "Refund for maria.gonzalez@example.com?"}),
            "expected": "",
            "criteria": "Cites the policy.",
            "tags": "billing, prod",
            "failure_mode": "retrieval_miss",
            "split": "holdout",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.input == {"question": "Refund for <EMAIL_ADDRESS_1>?"}
    assert (case.revision, case.expected, case.tags, case.split) == (
        2,
        None,
        ["billing", "prod"],
        "holdout",
    )
    assert set(case.revisions.get(revision=2).changed) == {
        "input",
        "expected",
        "criteria",
        "tags",
        "split",
    }
    version.refresh_from_db()
    assert "".join(selectors.version_jsonl_chunks(version=version)) == before

    page = client.get(f"{url}/").content.decode()
    assert "Saved revision 2" in page and "&lt;EMAIL_ADDRESS_1&gt;" in page
    assert "next version" in page and "v1</td>" in page  # revision 2 pending, 1 held by v1


def test_saving_an_unchanged_form_from_a_browser_makes_no_revision(project, lead, golden_set):
    case = CaseFactory(golden_set=golden_set, criteria="Line one\nline two")
    response = client_for(lead).post(
        f"{_base(project)}/refunds/cases/{case.case_id}/edit",
        {
            "input": json.dumps(case.input, indent=2),
            "expected": json.dumps(case.expected),
            "criteria": "Line one\r\nline two",  # how browsers send textarea lines
            "tags": " ".join(case.tags),
            "failure_mode": case.failure_mode,
            "split": case.split,
        },
    )
    assert response.status_code == 302
    assert CaseRevision.objects.filter(case=case).count() == 1


def test_an_edit_with_bad_json_is_a_400_naming_the_field(project, lead, golden_set):
    case = golden_set.cases.first()
    response = client_for(lead).post(
        f"{_base(project)}/refunds/cases/{case.case_id}/edit", {"input": "{nope", "split": "dev"}
    )
    assert response.status_code == 400 and "Not valid JSON" in response.content.decode()
    assert CaseRevision.objects.filter(case=case).count() == 1


def test_retire_quarantine_restore_and_move_split_as_plain_posts(
    project, lead, reviewer, golden_set
):
    client = client_for(lead)
    case = golden_set.cases.first()
    url = f"{_base(project)}/refunds/cases/{case.case_id}"
    for status in ("retired", "active", "quarantined"):
        assert client.post(f"{url}/status", {"status": status}).status_code == 302
    other = "holdout" if case.split == "dev" else "dev"
    assert client.post(f"{url}/split", {"split": other}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.split, case.revision) == ("quarantined", other, 5)
    assert list(case.revisions.values_list("status", flat=True)) == [
        "active", "retired", "active", "quarantined", "quarantined",
    ]  # fmt: skip
    assert client.post(f"{url}/status", {"status": "gone"}).status_code == 400
    assert client_for(reviewer).post(f"{url}/status", {"status": "active"}).status_code == 403
    _publish(client, project)
    assert case.case_id not in "".join(
        selectors.version_jsonl_chunks(version=GoldenSetVersion.objects.get())
    )


def test_import_a_file_through_the_page(project, lead, golden_set):
    client = client_for(lead)
    good = SimpleUploadedFile(
        "cases.jsonl", b'{"case_id": "page-1", "input": {"q": "Where is my parcel?"}}\n'
    )
    assert client.post(f"{_base(project)}/refunds/import", {"file": good}).status_code == 302
    assert Case.objects.get(case_id="page-1").source.startswith("import-")
    bad = SimpleUploadedFile("cases.csv", b"case_id,input\r\nx,{oops\r\n", content_type="text/csv")
    response = client.post(f"{_base(project)}/refunds/import", {"file": bad})
    assert response.status_code == 400
    assert "line 2" in response.content.decode() and not Case.objects.filter(case_id="x").exists()


def test_move_a_tag_through_the_page(project, lead, golden_set):
    client = client_for(lead)
    _publish(client, project, tag="prod")
    CaseFactory(golden_set=golden_set)
    _publish(client, project)
    assert (
        client.post(f"{_base(project)}/refunds/tags", {"tag": "prod", "version": 2}).status_code
        == 302
    )
    assert {v.number: v.tags for v in GoldenSetVersion.objects.all()} == {1: [], 2: ["prod"]}
    bad = client.post(f"{_base(project)}/refunds/tags", {"tag": "Not a tag", "version": 1})
    assert bad.status_code == 400 and "not a tag" in bad.content.decode()


def test_diff_page_shows_field_level_before_and_after(project, lead, reviewer, golden_set):
    client = client_for(lead)
    _publish(client, project)
    case = golden_set.cases.last()
    client.post(f"{_base(project)}/refunds/cases/{case.case_id}/status", {"status": "retired"})
    first = golden_set.cases.first()
    client.post(
        f"{_base(project)}/refunds/cases/{first.case_id}/edit",
        {"input": json.dumps(first.input), "criteria": "Now <i>kinder</i>", "split": first.split,
         "tags": " ".join(first.tags), "failure_mode": first.failure_mode,
         "expected": json.dumps(first.expected)},
    )  # fmt: skip
    _publish(client, project)

    page = client_for(reviewer).get(f"{_base(project)}/refunds/diff?from=1&to=2").content.decode()
    assert "0 added · 1 removed · 1 changed" in page
    assert "Now &lt;i&gt;kinder&lt;/i&gt;" in page and "&lt;script&gt;" in page  # after, before
    same = client_for(reviewer).get(f"{_base(project)}/refunds/diff?from=2&to=2").content.decode()
    assert "No differences" in same
    assert client_for(reviewer).get(f"{_base(project)}/refunds/diff?from=1&to=9").status_code == 404


def test_downloads_are_the_api_bytes(project, lead, reviewer, golden_set, api):
    _publish(client_for(lead), project)
    browser = client_for(reviewer)
    for fmt in ("jsonl", "csv"):
        page = browser.get(f"{_base(project)}/refunds/versions/1/cases.{fmt}")
        ci = api.get(f"/api/v1/golden-sets/refunds/versions/1/cases.{fmt}")
        assert b"".join(page.streaming_content) == b"".join(ci.streaming_content)
        assert page["ETag"] == ci["ETag"] and "attachment" in page["Content-Disposition"]
    assert browser.get(f"{_base(project)}/refunds/versions/1/cases.xml").status_code == 404
