"""Symptom alerts on a fixed clock: each rule's verdict, one firing per episode, resolve,
fire again; delivered through the webhook outbox and email; history on the health page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError

from tests.factories import MembershipFactory, QueueItemFactory, prompt_traffic
from triage import alerts
from triage.models import Alert, AlertRule
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def endpoint(project):
    endpoint, _ = webhook_endpoint_create(
        project=project, url="https://hooks.example.com/triage",
        events=["alert.firing", "alert.resolved"],
    )  # fmt: skip
    return endpoint


def _sent():
    return [
        (d.event, d.payload["rule"], d.payload["key"])
        for d in WebhookDelivery.objects.order_by("pk")
    ]


def test_a_thumbs_down_spike_fires_once_resolves_and_fires_again(project, endpoint):
    # 20 traces of prompt p1 in the last hour, 5 thumbed down: 25 % > the 10 % floor.
    prompt_traffic(project, T0 - timedelta(minutes=50), prompt_hash="p1", traces=20, thumbs_down=5)

    first = alerts.alerts_evaluate(project=project, now=T0)
    again = alerts.alerts_evaluate(project=project, now=T0 + timedelta(minutes=5))

    assert first == {"fired": [("thumbs_down_spike", "p1")], "resolved": []}
    assert again == {"fired": [], "resolved": []}
    alert = Alert.objects.get()
    assert (alert.status, alert.value, alert.threshold) == ("firing", 0.25, 0.1)
    assert _sent() == [("alert.firing", "thumbs_down_spike", "p1")]
    payload = WebhookDelivery.objects.get().payload
    trace = "t-p1-1110-4"  # the latest complaint in the window
    assert {k: payload[k] for k in ("trace_id", "session_id", "prompt_hash", "model_id")} == {
        "trace_id": trace, "session_id": f"s-{trace}", "prompt_hash": "p1", "model_id": "gpt-4o",
    }  # fmt: skip
    assert payload["trace_url"] == f"http://127.0.0.1:8000/admin/feedback/run/?trace_id={trace}"
    assert payload["health_url"] == "http://127.0.0.1:8000/p/acme/health/#alerts"

    # An hour later p1's complaints have left the window: the episode ends.
    over = alerts.alerts_evaluate(project=project, now=T0 + timedelta(hours=2))

    assert over == {"fired": [], "resolved": [("thumbs_down_spike", "p1")]}
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_at) == ("resolved", T0 + timedelta(hours=2))

    # A new spike is a new episode.
    later = T0 + timedelta(hours=3)
    prompt_traffic(project, later, prompt_hash="p1", traces=20, thumbs_down=8, tag="u")
    new = alerts.alerts_evaluate(project=project, now=later + timedelta(minutes=30))

    assert new == {"fired": [("thumbs_down_spike", "p1")], "resolved": []}
    assert list(Alert.objects.order_by("pk").values_list("status", flat=True)) == [
        "resolved", "firing",
    ]  # fmt: skip
    assert Alert.objects.order_by("pk").last().value == 0.4  # 8 of 20
    assert _sent() == [
        ("alert.firing", "thumbs_down_spike", "p1"),
        ("alert.resolved", "thumbs_down_spike", "p1"),
        ("alert.firing", "thumbs_down_spike", "p1"),
    ]


def test_too_little_traffic_gives_no_verdict(project, endpoint):
    prompt_traffic(project, T0 - timedelta(minutes=30), prompt_hash="p1", traces=19, thumbs_down=19)

    assert alerts.alerts_evaluate(project=project, now=T0) == {"fired": [], "resolved": []}
    assert not Alert.objects.exists()


def test_a_project_rule_overrides_the_default(project, endpoint):
    AlertRule.objects.create(project=project, rule="queue_backlog", params={"max_pending": 2})
    AlertRule.objects.create(project=project, rule="thumbs_down_spike", enabled=False)
    QueueItemFactory.create_batch(3, cluster__project=project)
    prompt_traffic(project, T0 - timedelta(minutes=50), prompt_hash="p1", traces=20, thumbs_down=5)

    result = alerts.alerts_evaluate(project=project, now=T0)

    assert result == {"fired": [("queue_backlog", "")], "resolved": []}
    alert = Alert.objects.get()
    assert (alert.value, alert.threshold, alert.context) == (3.0, 2.0, {})
    assert alert.summary == "3 items waiting for review (limit 2)"


def test_firing_alerts_are_emailed(
    project, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.TRIAGE_ALERT_EMAILS = ["oncall@example.com"]
    prompt_traffic(project, T0 - timedelta(minutes=50), prompt_hash="p1", traces=20, thumbs_down=5)

    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_evaluate(project=project, now=T0)

    (mail,) = mailoutbox
    assert mail.to == ["oncall@example.com"]
    assert mail.subject == "[Triage acme] FIRING: Thumbs-down spike for one prompt (p1)"
    assert "trace_id: t-p1-1110-4" in mail.body and "prompt_hash: p1" in mail.body


def test_the_database_allows_one_firing_episode_per_rule_and_key(project):
    fields = dict(project=project, rule="spend_velocity", summary="$", fired_at=T0,
                  last_evaluated_at=T0)  # fmt: skip
    Alert.objects.create(**fields)
    Alert.objects.create(**fields, status="resolved")

    with pytest.raises(IntegrityError):
        Alert.objects.create(**fields)


def _figures(**changes):
    zero = {"traces": 0, "judged": 0, "successes": 0, "thumbs_down": 0, "breaker_traces": 0,
            "tool_error_traces": 0, "cost": 0.0}  # fmt: skip
    figures = {
        "success_window": zero, "hour": zero, "baseline": zero, "week": zero,
        "last_week": zero, "queue_pending": 0, "prompt_hour": {}, "prompt_baseline": {},
    }  # fmt: skip
    for name, values in changes.items():
        figures[name] = {**zero, **values} if isinstance(values, dict) else values
    return figures


def _params():
    from django.conf import settings

    return {rule: dict(values) for rule, values in settings.TRIAGE_ALERT_RULES.items()}


def test_success_rate_below_the_slo_breaches():
    verdicts = alerts.rule_verdicts(
        _params(), _figures(success_window={"judged": 40, "successes": 34})
    )

    breaching, value, threshold, summary = verdicts[("success_rate_slo", "")]
    assert (breaching, value, threshold) == (True, 0.85, 0.9)
    assert summary == "task success 85.0% over the last 15 min (SLO 90.0%, 40 judged)"


def test_spend_velocity_compares_the_last_hour_with_the_budget():
    verdicts = alerts.rule_verdicts(_params(), _figures(hour={"cost": 50.01}))

    assert verdicts[("spend_velocity", "")][:3] == (True, 50.01, 50.0)


def test_breaker_rate_must_exceed_twice_its_baseline():
    at_limit = _figures(hour={"traces": 100, "breaker_traces": 6},
                        baseline={"traces": 1000, "breaker_traces": 30})  # fmt: skip
    above = _figures(hour={"traces": 100, "breaker_traces": 7},
                     baseline={"traces": 1000, "breaker_traces": 30})  # fmt: skip

    assert alerts.rule_verdicts(_params(), at_limit)[("breaker_rate", "")][:3] == (
        False,
        0.06,
        0.06,
    )
    assert alerts.rule_verdicts(_params(), above)[("breaker_rate", "")][:3] == (True, 0.07, 0.06)


def test_tool_errors_doubling_week_over_week_breaches():
    doubled = _figures(week={"traces": 400, "tool_error_traces": 16},
                       last_week={"traces": 400, "tool_error_traces": 8})  # fmt: skip

    assert alerts.rule_verdicts(_params(), doubled)[("tool_error_growth", "")][:3] == (
        True, 0.04, 0.04,
    )  # fmt: skip


def test_alert_history_is_on_the_health_page(client, project, endpoint):
    lead = MembershipFactory(project=project, role="lead", user__username="lena").user
    prompt_traffic(project, T0 - timedelta(minutes=50), prompt_hash="p1", traces=20, thumbs_down=5)
    alerts.alerts_evaluate(project=project, now=T0)
    alerts.alerts_evaluate(project=project, now=T0 + timedelta(hours=2))
    client.force_login(lead)

    html = client.get("/p/acme/health/").content.decode()

    assert 'id="alerts"' in html
    assert "Thumbs-down spike for one prompt" in html and "<code>p1</code>" in html
    assert 'class="resolved">resolved<' in html
    assert 'href="http://127.0.0.1:8000/admin/feedback/run/?trace_id=t-p1-1110-4"' in html


def test_incidents_are_counted_on_the_overview(client, project):
    lead = MembershipFactory(project=project, role="lead", user__username="lena").user
    now = datetime.now(UTC)
    prompt_traffic(project, now - timedelta(minutes=30), prompt_hash="p1", traces=20, thumbs_down=5)
    alerts.alerts_evaluate(project=project, now=now)
    client.force_login(lead)

    html = client.get("/p/acme/overview/").content.decode()

    assert 'id="o-incidents">1<' in html
    assert 'data-series="Incidents"' in html


def test_the_default_trace_url_lists_the_traces_runs_in_the_admin(
    client, project, django_user_model
):
    admin = django_user_model.objects.create_superuser("root", password="pw-for-tests")
    prompt_traffic(project, T0, prompt_hash="p1", traces=2, thumbs_down=0)
    client.force_login(admin)

    response = client.get(alerts.trace_url("t-p1-1200-1").replace("http://127.0.0.1:8000", ""))

    assert response.status_code == 200
    assert [r.trace_id for r in response.context["cl"].result_list] == ["t-p1-1200-1"]
