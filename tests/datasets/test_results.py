"""CI reports results for a pinned version: counts, newly passing, regressions, history."""

import pytest
from django.test import Client

from datasets import services
from datasets.models import CaseResult, ResultsRun
from datasets.results import case_results, case_status
from tests.factories import CaseFactory, GoldenSetFactory, ProjectFactory, api_key_for
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(project, lead):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    for split in ("holdout", "dev", "dev"):
        CaseFactory(golden_set=golden_set, split=split)
    return services.golden_set_version_publish(golden_set=golden_set, user=lead, tags=["prod"])


@pytest.fixture
def ci(project):
    key = api_key_for(project, ["datasets:read", "results:write"])
    return Client(headers={"Authorization": f"Bearer {key}"})


def _post(ci, results, ref="prod", commit="c1"):
    return ci.post(
        f"/api/v1/golden-sets/refunds/versions/{ref}/results",
        {"commit": commit, "results": results},
        content_type="application/json",
    )


def test_results_are_stored_and_the_answer_names_what_changed(ci, version, project):
    webhook_endpoint_create(
        project=project, url="https://ci.example.com/h", events=["case.passing", "case.regressed"]
    )
    first = _post(ci, [
        {"case_id": "refunds-001", "passed": True, "score": 0.9},
        {"case_id": "refunds-002", "passed": True},
        {"case_id": "refunds-003", "passed": False, "output": {"answer": "no"}},
    ])  # fmt: skip
    assert first.status_code == 201
    body = first.json()
    assert (body["version"], body["passed"], body["failed"], body["commit"]) == (1, 2, 1, "c1")
    assert body["newly_passing"] == ["refunds-001", "refunds-002"] and body["regressions"] == []

    second = _post(ci, [
        {"case_id": "refunds-001", "passed": False},
        {"case_id": "refunds-003", "passed": True},
    ], ref="1", commit="c2").json()  # fmt: skip
    assert second["newly_passing"] == ["refunds-003"]
    assert second["regressions"] == ["refunds-001"]

    golden_set = version.golden_set
    assert case_status(golden_set, ["refunds-001", "refunds-002", "refunds-003"]) == {
        "refunds-001": "failing", "refunds-002": "passing", "refunds-003": "passing"
    }  # fmt: skip
    history = case_results(golden_set, "refunds-001")
    assert [(h["commit"], h["passed"], h["version"]) for h in history] == [
        ("c2", False, 1), ("c1", True, 1)
    ]  # fmt: skip
    row = CaseResult.objects.get(case_id="refunds-003", results_run__commit="c1")
    assert (row.split, row.output) == ("dev", {"answer": "no"})
    # First passes once each, and the one regression: ids only.
    events = list(WebhookDelivery.objects.order_by("pk").values_list("event", "payload"))
    assert [(e, p["case_id"], p["commit"]) for e, p in events] == [
        ("case.passing", "refunds-001", "c1"),
        ("case.passing", "refunds-002", "c1"),
        ("case.regressed", "refunds-001", "c2"),
        ("case.passing", "refunds-003", "c2"),
    ]
    assert events[0][1]["split"] == "holdout"
    detail = ci.get("/api/v1/golden-sets/refunds/cases/refunds-001").json()
    assert [(r["commit"], r["passed"]) for r in detail["results"]] == [("c2", False), ("c1", True)]
    assert (detail["last_result"]["commit"], detail["last_result"]["passed"]) == ("c2", False)
    working = ci.get("/api/v1/golden-sets/refunds/cases").json()
    assert [c["last_result"]["passed"] for c in working] == [False, True, True]
    listed = ci.get("/api/v1/golden-sets/refunds/versions/1/results").json()
    assert [(r["commit"], r["passed"], r["failed"]) for r in listed] == [("c2", 1, 1), ("c1", 2, 1)]


@pytest.mark.parametrize(
    ("results", "field"),
    [
        ([{"case_id": "refunds-001", "passed": True}, {"case_id": "nope", "passed": True}],
         "results[1].case_id"),
        ([{"case_id": "refunds-001", "passed": "yes"}], "results[0].passed"),
        ([{"case_id": "refunds-001", "passed": True}, {"case_id": "refunds-001", "passed": 0}],
         "results[1].passed"),
        ([], "results"),
    ],
)  # fmt: skip
def test_bad_results_are_refused_naming_the_field_and_nothing_is_stored(
    ci, version, results, field
):
    response = _post(ci, results)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not ResultsRun.objects.exists() and not CaseResult.objects.exists()


def test_a_case_id_listed_twice_is_refused(ci, version):
    response = _post(ci, [{"case_id": "refunds-001", "passed": True}] * 2)
    assert response.status_code == 400
    assert response.json()["fields"] == {"results[1].case_id": ["'refunds-001' is listed twice."]}


def test_results_need_the_results_scope_and_the_right_project(project, version):
    reader = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})
    assert _post(reader, [{"case_id": "refunds-001", "passed": True}]).status_code == 403
    other = ProjectFactory()
    stranger = Client(headers={"Authorization": f"Bearer {api_key_for(other, ['results:write'])}"})
    assert _post(stranger, [{"case_id": "refunds-001", "passed": True}]).status_code == 403
    ci = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['results:write'])}"})
    missing = _post(ci, [{"case_id": "refunds-001", "passed": True}], ref="9")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert not ResultsRun.objects.exists()


def test_the_golden_set_page_shows_pass_fail_per_case_and_per_run(ci, version, project, reviewer):
    _post(ci, [
        {"case_id": "refunds-001", "passed": True},
        {"case_id": "refunds-002", "passed": False},
    ], commit="abc1234def")  # fmt: skip
    browser = Client()
    browser.force_login(reviewer)

    page = browser.get(f"/p/{project.slug}/golden-sets/refunds/").content.decode()

    runs = page[page.index('id="results-runs"') : page.index("<h2>Cases</h2>")]
    assert "v1" in runs and "abc1234def" in runs
    assert '<td class="num good" data-label="Passed">1</td>' in runs
    assert '<td class="num bad" data-label="Failed">1</td>' in runs
    cases = page[page.index("<h2>Cases</h2>") :]
    row = lambda case_id: cases[cases.index(f">{case_id}</a>") :].split("</tr>")[0]  # noqa: E731
    assert ">passing</span>" in row("refunds-001")
    assert ">failing</span>" in row("refunds-002")
    assert "never run" in row("refunds-003")
