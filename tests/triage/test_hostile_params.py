"""Reviewer pages given hostile query strings and form posts answer like for unknown
values (ignored, or a 400 form error), never a 500: dates at the calendar's ends, NUL
bytes (PostgreSQL refuses them), Unicode digits, bigint overflows, NaN, deep JSON."""

import pytest
from django.test import Client

from datasets import services as dataset_services
from datasets.models import Case
from tests.factories import CaseFactory, GoldenSetFactory, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_client(lead):
    client = Client(raise_request_exception=True)
    client.force_login(lead)
    return client


@pytest.mark.parametrize("week", ["0001-01-01", "9999-12-31", "2026-02-30", "x\x00"])
def test_the_weekly_page_falls_back_to_this_week_for_dates_off_the_calendar(
    project, lead_client, week
):
    response = lead_client.get(f"/p/{project.slug}/weekly/", {"week": week})
    assert response.status_code == 200
    assert response.context["week_start"] <= response.context["week_start"].today()
    assert response.context["week_start"].year >= 2000


QUEUE_PARAMS = [
    {"model": "\x00"},
    {"model": "gpt\x00-4o"},
    {"prompt_hash": "\x00"},
    {"category": "\x00"},
    {"tier": "pro\x00"},
    {"status": "\x00"},
    {"severity": "\x00"},
    {"sort": "\x00"},
    {"assignee": "²"},
    {"assignee": "99999999999999999999999"},
    {"assignee": "\x00"},
    {"after": "nan_1"},
    {"after": "inf_99999999999999999999999"},
    {"after": "5.0_\x00"},
    {"sort": "reports", "after": "99999999999999999999_1"},
    {"sort": "last_seen", "after": "0001-01-01T00:00:00_1"},
]


@pytest.mark.parametrize("params", QUEUE_PARAMS, ids=repr)
def test_queue_filters_strip_nul_and_ignore_bad_numbers(project, lead_client, params):
    make_item(project, model_id="gpt-4o")
    response = lead_client.get(f"/p/{project.slug}/queue/", {"status": "all", **params})
    assert response.status_code == 200
    filters = response.context["filters"]
    assert "\x00" not in str(vars(filters))


def test_a_nul_in_the_model_filter_is_dropped_and_the_rest_still_filters(project, lead_client):
    item = make_item(project, model_id="gpt-4o")
    response = lead_client.get(
        f"/p/{project.slug}/queue/", {"status": "all", "model": "gpt-4o\x00"}
    )
    assert [i.pk for i in response.context["items"]] == [item.pk]


@pytest.mark.parametrize(
    "path, params",
    [
        ("time-to-eval/", {"days": "²"}),
        ("time-to-eval/", {"days": "99999999999999999999999"}),
        ("health/", {"days": "²"}),
        ("health/", {"by": "\x00"}),
        ("golden-sets/refunds/", {"status": "\x00"}),
        ("golden-sets/refunds/", {"page": "²"}),
    ],
    ids=repr,
)
def test_other_reviewer_pages_ignore_bad_params(project, lead_client, path, params):
    GoldenSetFactory(project=project, slug="refunds")
    response = lead_client.get(f"/p/{project.slug}/{path}", params)
    assert response.status_code == 200


@pytest.mark.parametrize("ref", ["\x00", "sha256:\x00", "²", "99999999999999999999"])
def test_a_diff_between_unknown_refs_is_a_404(project, lead, lead_client, ref):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set)
    dataset_services.golden_set_version_publish(golden_set=golden_set, user=lead)
    response = Client()
    response.force_login(lead)
    answer = response.get(f"/p/{project.slug}/golden-sets/refunds/diff", {"from": ref, "to": "1"})
    assert answer.status_code == 404


def test_the_api_answers_an_unknown_unicode_digit_ref_with_a_404(project, lead, api):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set)
    dataset_services.golden_set_version_publish(golden_set=golden_set, user=lead)
    for ref in ("²", "99999999999999999999"):
        response = api.get(f"/api/v1/golden-sets/refunds/versions/{ref}/cases.jsonl")
        assert response.status_code == 404, (ref, response.status_code)
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "input_text, message",
    [
        ('{"q": ' * 5000 + '"x"' + "}" * 5000, "nested deeper than 64 levels"),
        ('{"q": NaN}', "numbers must be finite"),
        ('{"q": 1e999}', "numbers must be finite"),
        ('{"q": "a\\u0000b"}', "NUL characters"),
    ],
    ids=["5000-deep", "NaN", "1e999", "NUL"],
)
def test_promote_with_hostile_json_is_a_form_error(project, lead_client, input_text, message):
    item = make_item(project, status="labelled", decision="add_to_eval")
    response = lead_client.post(
        f"/p/{project.slug}/items/{item.pk}/promote",
        {"new_golden_set": "Refunds", "input": input_text, "criteria": "c"},
    )
    assert response.status_code == 400
    assert message in response.context["promote_form"].errors["input"][0]
    assert message in response.content.decode()
    assert not Case.objects.exists()


def test_bulk_and_reply_ignore_unicode_digit_ids(project, lead_client):
    item = make_item(project)
    response = lead_client.post(
        f"/p/{project.slug}/queue/bulk",
        {"items": ["²", "99999999999999999999", str(item.pk)], "action": "skip"},
    )
    assert response.status_code in (200, 302)
    reply = lead_client.post(
        f"/p/{project.slug}/items/{item.pk}/comments", {"parent": "²", "body": "hi"}
    )
    assert reply.status_code in (200, 302)
