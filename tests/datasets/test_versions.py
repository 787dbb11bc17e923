"""Revisions and versions: edits never touch published bytes; a publish writes only what
changed; retire/quarantine/restore; JSONL and CSV of a version hold the same cases."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets import jsonl, selectors, services
from datasets.models import Case, CaseRevision, GoldenSetVersion
from tests.factories import CaseFactory, GoldenSetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def golden_set(project):
    return GoldenSetFactory(project=project, slug="refunds", name="Refunds")


def _jsonl(version):
    return "".join(selectors.version_jsonl_chunks(version=version))


def _csv(version):
    return "".join(selectors.version_csv_chunks(version=version))


def _publish(golden_set, lead, **kwargs):
    return services.golden_set_version_publish(golden_set=golden_set, user=lead, **kwargs)


def test_an_edit_after_publish_leaves_the_published_bytes_and_digest_identical(golden_set, lead):
    case = CaseFactory(golden_set=golden_set)
    CaseFactory(golden_set=golden_set)
    v1 = _publish(golden_set, lead)
    before = _jsonl(v1)
    assert jsonl.digest(before) == v1.digest

    services.case_update(
        case=case, changes={"criteria": "Cites the policy page.", "split": "holdout"}, user=lead
    )
    v2 = _publish(golden_set, lead)

    v1 = GoldenSetVersion.objects.get(pk=v1.pk)
    assert _jsonl(v1) == before and jsonl.digest(_jsonl(v1)) == v1.digest
    line = json.loads(_jsonl(v2).splitlines()[0])
    assert (line["criteria"], line["split"]) == ("Cites the policy page.", "holdout")
    case.refresh_from_db()
    assert case.revision == 2
    assert list(
        case.revisions.values_list("revision", "changed", "first_version", "last_version")
    ) == [
        (1, [], 1, 1),
        (2, ["criteria", "split"], 2, None),
    ]


def test_an_unchanged_edit_writes_no_revision(golden_set, lead):
    case = CaseFactory(golden_set=golden_set)
    services.case_update(case=case, changes={"criteria": case.criteria}, user=lead)
    assert CaseRevision.objects.filter(case=case).count() == 1


def test_publishing_again_without_changes_is_nothing_changed(golden_set, lead):
    case = CaseFactory(golden_set=golden_set)
    _publish(golden_set, lead)
    with pytest.raises(services.NothingChanged):
        _publish(golden_set, lead)
    # An edit and its undo: new revisions, the same bytes: still nothing to publish.
    services.case_update(case=case, changes={"criteria": "x"}, user=lead)
    services.case_update(case=case, changes={"criteria": "Offers the 30-day refund."}, user=lead)
    with pytest.raises(services.NothingChanged):
        _publish(golden_set, lead)
    assert GoldenSetVersion.objects.count() == 1


def test_retire_and_restore_round_trip(golden_set, lead):
    keep, gone = CaseFactory(golden_set=golden_set), CaseFactory(golden_set=golden_set)
    v1 = _publish(golden_set, lead)
    services.case_update(case=gone, changes={"status": "retired"}, user=lead)
    v2 = _publish(golden_set, lead)
    services.case_update(case=gone, changes={"status": "active"}, user=lead)
    v3 = _publish(golden_set, lead)

    ids = [[c["case_id"] for c in selectors.version_cases(version=v)] for v in (v1, v2, v3)]
    assert ids == [[keep.case_id, gone.case_id], [keep.case_id], [keep.case_id, gone.case_id]]
    assert v3.digest == v1.digest  # same cases, same bytes
    assert (v2.case_count, v3.case_count) == (1, 2)


def test_a_quarantined_case_appears_in_no_new_version(golden_set, lead):
    flaky, steady = CaseFactory(golden_set=golden_set), CaseFactory(golden_set=golden_set)
    services.case_update(case=flaky, changes={"status": "quarantined"}, user=lead)
    v1 = _publish(golden_set, lead)
    services.case_update(case=steady, changes={"criteria": "New"}, user=lead)
    v2 = _publish(golden_set, lead)
    for version in (v1, v2):
        assert flaky.case_id not in _jsonl(version) and flaky.case_id not in _csv(version)
    assert Case.objects.get(pk=flaky.pk).first_published_at is None


def test_csv_and_jsonl_of_one_version_hold_the_same_cases(golden_set, lead):
    CaseFactory(golden_set=golden_set, criteria='Says "no", then, a comma\nand a newline')
    CaseFactory(golden_set=golden_set, expected=None, tags=["p0", "billing"])
    version = _publish(golden_set, lead)
    from_jsonl = [json.loads(line) for line in _jsonl(version).splitlines()]
    rows = list(csv.DictReader(io.StringIO(_csv(version), newline="")))
    from_csv = [
        {
            **row,
            "input": json.loads(row["input"]),
            "expected": json.loads(row["expected"]) if row["expected"] else None,
            "tags": json.loads(row["tags"]),
        }
        for row in rows
    ]
    assert from_csv == from_jsonl
    assert version.csv_digest == jsonl.digest(_csv(version))  # stored at publish


def test_diff_of_a_version_with_itself_is_empty_and_field_level_otherwise(golden_set, lead):
    a, b = CaseFactory(golden_set=golden_set), CaseFactory(golden_set=golden_set)
    v1 = _publish(golden_set, lead)
    services.case_update(case=a, changes={"expected": {"output": "Yes"}}, user=lead)
    services.case_update(case=b, changes={"status": "retired"}, user=lead)
    c = CaseFactory(golden_set=golden_set)
    v2 = _publish(golden_set, lead)

    same = selectors.version_diff(golden_set=golden_set, old=v2, new=v2)
    assert (same["added"], same["removed"], same["changed"]) == ([], [], [])
    diff = selectors.version_diff(golden_set=golden_set, old=v1, new=v2)
    assert (diff["added"], diff["removed"]) == ([c.case_id], [b.case_id])
    assert diff["changed"] == [
        {
            "case_id": a.case_id,
            "fields": ["expected"],
            "before": {"expected": {"output": "Within 30 days."}},
            "after": {"expected": {"output": "Yes"}},
        }
    ]
    back = selectors.version_diff(golden_set=golden_set, old=v2, new=v1)
    assert (back["added"], back["removed"]) == ([b.case_id], [c.case_id])


def test_a_publish_after_a_few_edits_writes_only_the_changed_revisions(golden_set, lead):
    cases = [CaseFactory(golden_set=golden_set) for _ in range(30)]
    _publish(golden_set, lead)
    for case in cases[:3]:
        services.case_update(case=case, changes={"criteria": "edited"}, user=lead)
    # Each edit closed its case's published revision and opened a new one when written…
    assert CaseRevision.objects.filter(last_version=1).count() == 3
    with CaptureQueriesContext(connection) as queries:
        v2 = _publish(golden_set, lead)
    # … so publishing writes no revision row at all: one version row, and time-to-eval.
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert not [q for q in writes if "datasets_caserevision" in q.split("WHERE")[0]]
    assert CaseRevision.objects.filter(last_version=1).count() == 3
    assert CaseRevision.objects.filter(first_version=2).count() == 3
    assert CaseRevision.objects.filter(first_version=1, last_version__isnull=True).count() == 27
    assert v2.case_count == 30


def test_cases_written_straight_to_the_table_are_published_too(golden_set, lead):
    Case.objects.create(
        golden_set=golden_set, number=1, case_id="refunds-001", input={"q": "hi"}, source="s"
    )
    version = _publish(golden_set, lead)
    assert json.loads(_jsonl(version))["case_id"] == "refunds-001"


def test_a_tag_that_is_not_a_slug_is_refused_naming_tag(golden_set, lead):
    CaseFactory(golden_set=golden_set)
    version = _publish(golden_set, lead)
    with pytest.raises(services.InvalidInput) as error:
        services.golden_set_version_tag(version=version, tag="Not a tag!")
    assert list(error.value.fields) == ["tag"]
    services.golden_set_version_tag(version=version, tag="candidate")
    assert GoldenSetVersion.objects.get().tags == ["candidate"]
