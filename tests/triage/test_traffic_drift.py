"""Drift on traffic: topics of what users ask, compared with what the golden sets cover,
on a synthetic traffic mix; live queries of uncovered topics are sampled into the queue."""

from datetime import UTC, datetime, timedelta

import pytest

from feedback.models import FeedbackEvent
from tests.factories import CaseFactory, GoldenSetFactory, RunFactory
from triage import services, traffic_drift
from triage.models import Cluster, QueueItem, TriageRun

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 2, 45, tzinfo=UTC)
QUESTIONS = {
    "password": "How do I reset my password",
    "shipping": "Where is my order, what is the shipping status",
    "cancel": "Cancel my subscription plan today",
}


def _traffic(project, mix, *, days_ago, locale, tag):
    n = 0
    for kind, count in mix.items():
        for _ in range(count):
            at = NOW - timedelta(days=days_ago, minutes=n)
            RunFactory(
                project=project, run_id=f"{tag}-{n}", trace_id=f"{tag}-{n}", start_time=at,
                inputs={"question": QUESTIONS[kind]}, metadata={"locale": locale(n)},
            )  # fmt: skip
            n += 1


@pytest.fixture
def mix(project):
    # This week: 60 % password, 30 % shipping, 10 % cancel; half German on the shipping side.
    _traffic(project, {"password": 60, "shipping": 30, "cancel": 10}, days_ago=1,
             locale=lambda n: "de" if n >= 70 else "en", tag="now")  # fmt: skip
    # Last week: password only, in English; an experiment never counts.
    _traffic(project, {"password": 50}, days_ago=8, locale=lambda n: "en", tag="before")
    RunFactory(
        project=project, run_id="x", trace_id="x", start_time=NOW - timedelta(days=1),
        inputs={"question": "cancel cancel"}, reference_example_id="e",
    )  # fmt: skip
    refunds = GoldenSetFactory(project=project, slug="refunds")
    for _ in range(30):
        CaseFactory(golden_set=refunds, input={"question": "Reset password for me"})


def test_topics_group_queries_by_their_most_shared_content_word():
    topics, _ = traffic_drift.traffic_topics(
        [QUESTIONS["password"]] * 3 + [QUESTIONS["shipping"]] * 2 + ["something unique here"]
    )

    assert topics == ["reset"] * 3 + ["status"] * 2 + [""]


def test_uncovered_topics_above_five_percent_of_traffic_are_sampled_into_the_queue(
    project, mix, settings
):
    settings.TRIAGE_DRIFT_SAMPLE_SIZE = 4

    report = traffic_drift.traffic_drift_check(project=project, now=NOW)

    assert report["sampled"] == 100
    assert report["drifting"] == [
        {
            "topic": "status",
            "label": "order shipping status",
            "traffic_share": 0.3,
            "case_share": 0.0,
        },
        {
            "topic": "today",
            "label": "cancel plan subscription",
            "traffic_share": 0.1,
            "case_share": 0.0,
        },
    ]  # fmt: skip  ("reset" is 60 % of traffic but every case covers it)
    samples = Cluster.objects.filter(kind="drift_sample").order_by("pk")
    assert samples.count() == 8 and QueueItem.objects.filter(cluster__in=samples).count() == 8
    topics = [c.score_breakdown["topic"] for c in samples]
    assert topics == ["status"] * 4 + ["today"] * 4
    event = FeedbackEvent.objects.filter(cluster=samples[0]).get()
    assert event.trace_id.startswith("now-") and event.source == "auto" and event.rating == ""
    assert samples[0].queue_reason == (
        "drift-2026-11-23: “order shipping status” is 30.0% of traffic, 0.0% of eval cases"
    )
    assert samples[0].score_breakdown["source"] == "drift-2026-11-23"


def test_the_report_gives_locale_mix_and_prompt_length_shift(project, mix):
    report = traffic_drift.traffic_drift_check(project=project, now=NOW)

    assert report["locales"] == [
        {"locale": "en", "share": 0.7, "previous_share": 1.0, "change": -0.3},
        {"locale": "de", "share": 0.3, "previous_share": 0.0, "change": 0.3},
    ]
    length = report["prompt_length"]
    assert (length["previous_median"], length["previous_p90"]) == (26, 26)
    assert (length["median"], length["p90"]) == (26, 46)
    assert TriageRun.objects.get(kind="traffic_drift").summary == report


def test_running_the_check_again_queues_nothing_new(project, mix, settings):
    settings.TRIAGE_DRIFT_SAMPLE_SIZE = 4
    traffic_drift.traffic_drift_check(project=project, now=NOW)

    again = traffic_drift.traffic_drift_check(project=project, now=NOW + timedelta(minutes=5))

    assert again["queued"] == 0 and QueueItem.objects.count() == 8


def test_a_promoted_drift_sample_says_which_check_drew_it(project, mix, settings, lead):
    settings.TRIAGE_DRIFT_SAMPLE_SIZE = 1
    traffic_drift.traffic_drift_check(project=project, now=NOW)
    item = QueueItem.objects.order_by("pk").first()
    QueueItem.objects.filter(pk=item.pk).update(status="labelled", decision="add_to_eval")
    item.refresh_from_db()

    case = services.queue_item_promote(
        item=item, golden_set=GoldenSetFactory(project=project, slug="coverage"), user=lead,
        input={"question": "Where is my order"}, criteria="Gives the shipping status.",
    )  # fmt: skip

    assert case.source == "drift-2026-11-23"


def test_the_latest_drift_report_is_on_the_health_page(client, project, mix, lead, settings):
    settings.TRIAGE_DRIFT_SAMPLE_SIZE = 2
    traffic_drift.traffic_drift_check(project=project, now=NOW)
    client.force_login(lead)

    html = client.get("/p/acme/health/").content.decode()

    section = html[html.index('id="traffic-drift"') : html.index('id="versions-in-production"')]
    assert "<strong>order shipping status</strong> — 30.0 % of traffic, 0.0 % of eval" in section
    assert "4 live queries sampled" in section
    assert '<td>de</td><td class="num">30.0 %</td><td class="num">0.0 %</td>' in section
    assert "median 26 characters (was 26), 90th percentile 46 (was 26)" in section
