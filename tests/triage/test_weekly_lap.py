"""The weekly lap: the meeting's agenda from the product's own data, labelled in place."""

from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from datasets import services as dataset_services
from datasets.results import results_run_record
from tests.factories import CaseFactory, GoldenSetFactory, make_item
from triage import incidents
from triage.agenda import weekly_agenda
from triage.models import MetricRollup, QueueItem

pytestmark = pytest.mark.django_db


def _week_start():
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    return timezone.make_aware(datetime.combine(monday, time.min))


def test_the_agenda_gathers_items_incidents_trends_and_the_case_target(project, lead, settings):
    settings.TRIAGE_WEEKLY_CASE_TARGET = (2, 4)
    week = _week_start()
    p0 = make_item(project, category="unsafe", score=2.0)
    p1 = make_item(project, category="wrong", score=9.0)
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set, source="thumbs-down-2026-11-20", split="holdout")
    CaseFactory(golden_set=golden_set, source="import-2026-11-20")
    version = dataset_services.golden_set_version_publish(golden_set=golden_set, user=lead)
    results_run_record(
        version=version, commit="c1",
        results=[{"case_id": "refunds-001", "passed": True},
                 {"case_id": "refunds-002", "passed": False}],
    )  # fmt: skip
    MetricRollup.objects.create(
        project=project, granularity="day", dimension="all", bucket_start=week,
        traces=200, successes=150, cost="3.00000000",
    )  # fmt: skip
    followup = incidents.incident_open(project=project, user=lead, title="no case", severity="sev2")

    agenda = weekly_agenda(project=project, week_start=week)

    assert [i.pk for i in agenda["top_items"]] == [p1.pk, p0.pk]
    assert agenda["action_item"].pk == p0.pk  # the open P0, whatever the P1 scores
    assert (agenda["production_cases_added"], agenda["cases_added"]) == (1, 2)
    assert not agenda["case_target_met"]
    assert agenda["this_week"]["pass_rate"] == 0.5
    assert agenda["this_week"]["cost_per_trace"] == pytest.approx(0.015)
    assert agenda["this_week"]["success_rate"] == 0.75
    assert agenda["last_week"]["pass_rate"] is None
    assert [f["incident"].pk for f in agenda["incident_followups"]] == [followup.pk]


def test_a_lead_labels_in_place_with_an_owner_and_the_page_shows_it(project, lead, reviewer):
    item = make_item(project, category="billing")
    held = make_item(project, category="wrong", score=1.0)
    QueueItem.objects.filter(pk=held.pk).update(
        status="claimed", claimed_by=lead, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/p/{project.slug}/weekly/").content.decode()
    assert 'id="agenda"' in page and "The one action item" in page and "Fix now" in page

    response = browser.post(
        f"/p/{project.slug}/weekly/items/{item.pk}/label",
        {"decision": "fix_now", "owner": reviewer.pk},
        follow=True,
    )

    item.refresh_from_db()
    assert (item.status, item.decision, item.labelled_by) == ("labelled", "fix_now", reviewer)
    assert f"Item #{item.pk}: {reviewer.username} owns it." in response.content.decode()
    refused = browser.post(
        f"/p/{project.slug}/weekly/items/{held.pk}/label",
        {"decision": "add_to_eval", "owner": reviewer.pk},
        follow=True,
    ).content.decode()
    assert f"{lead.username} is reviewing this item right now" in refused
    assert QueueItem.objects.get(pk=held.pk).decision == ""
    other = Client()
    other.force_login(reviewer)
    assert (
        other.post(
            f"/p/{project.slug}/weekly/items/{held.pk}/label", {"decision": "wont_fix"}
        ).status_code
        == 403
    )
