"""Production-health metrics on a small known dataset: the rollup, its rates per slice, the
metrics API and versions in production, with exact values."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import (
    FeedbackEventFactory,
    ProjectFactory,
    RunFactory,
    api_key_for,
)
from triage import metrics
from triage.models import MetricRollup

pytestmark = pytest.mark.django_db


def _run(project, trace, start, ms, *, parent="", run_type="chain", **fields):
    return RunFactory(
        project=project,
        run_id=f"{trace}-{run_type}-{fields.pop('n', 0)}" if parent else trace,
        trace_id=trace,
        parent_run_id=parent,
        run_type=run_type,
        start_time=start,
        end_time=start + timedelta(milliseconds=ms),
        outputs=fields.pop("outputs", {"answer": "ok"}),
        **fields,
    )


def known_traffic(project, base):
    """Four production traces starting at `base` (+ noise that must not count):

    t1 p1/m1  1000 ms, llm 600 ms $0.01 100 tok, thumbs up (pro)       → success
    t2 p1     2000 ms, llm 800 ms $0.02 200 tok (gpt-4o), two identical tool calls, one
              failing; empty answer; thumbs down (free)                 → judged, failed
    t3 p2     3000 ms, llm 1500 ms $0.03 300 tok (claude) stopped at max tokens, judge 0.9,
              a parser error                                            → success
    t4 p2     4000 ms, the circuit breaker opened (root error), no signal → not judged
    """
    at = lambda s: base + timedelta(seconds=s)  # noqa: E731
    _run(project, "t1", at(0), 1000, metadata={"prompt_hash": "p1", "model_id": "m1"})
    _run(project, "t1", at(0.1), 600, parent="t1", run_type="llm", model="gpt-4o",
         total_cost=Decimal("0.01"), total_tokens=100)  # fmt: skip
    FeedbackEventFactory(project=project, trace_id="t1", rating="up", customer_tier="pro")

    _run(project, "t2", at(10), 2000, metadata={"prompt_hash": "p1"}, outputs=None)
    _run(project, "t2", at(10.1), 800, parent="t2", run_type="llm", model="gpt-4o",
         total_cost=Decimal("0.02"), total_tokens=200)  # fmt: skip
    for n, error in ((1, ""), (2, "ToolError: lookup failed")):
        _run(project, "t2", at(11), 100 * (2 * n - 1), parent="t2", run_type="tool", n=n,
             name="lookup", inputs={"order": 7}, error=error)  # fmt: skip
    FeedbackEventFactory(project=project, trace_id="t2", rating="down", customer_tier="free")

    _run(project, "t3", at(20), 3000, metadata={"prompt_hash": "p2"})
    _run(project, "t3", at(20.1), 1500, parent="t3", run_type="llm", model="claude",
         total_cost=Decimal("0.03"), total_tokens=300, stop_reason="length",
         metadata={"judge_score": 0.9})  # fmt: skip
    _run(project, "t3", at(21.7), 5, parent="t3", run_type="parser",
         error="JSONDecodeError: Expecting value")  # fmt: skip

    _run(project, "t4", at(30), 4000, metadata={"prompt_hash": "p2"},
         error="CircuitBreakerOpen: circuit breaker open")  # fmt: skip

    # Not production traffic of this bucket: an experiment, another project, days before.
    _run(project, "x1", at(40), 9000, metadata={"prompt_hash": "p1", "reference_example_id": "e1"})
    FeedbackEventFactory(project=project, trace_id="x1", rating="down")
    _run(ProjectFactory(slug="globex"), "g1", at(0), 9000, metadata={"prompt_hash": "p1"})
    _run(project, "old", base - timedelta(days=3), 9000, metadata={"prompt_hash": "p1"})


DAY = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def rolled_up(project):
    known_traffic(project, DAY + timedelta(hours=10))
    metrics.metrics_rollup(project=project, granularity="day", bucket_start=DAY)
    return {
        (r.dimension, r.value): r
        for r in MetricRollup.objects.filter(project=project, granularity="day")
    }


def test_rollup_counts_production_traffic_of_the_day_and_leaves_experiments_out(rolled_up):
    row = rolled_up[("all", "")]

    assert (row.bucket_start, row.traces, row.thumbs_down, row.judged, row.successes) == (
        DAY, 4, 1, 3, 2,
    )  # fmt: skip
    assert (row.cost, row.tokens) == (Decimal("0.06"), 600)
    assert (row.latency_p50_ms, row.latency_p95_ms) == (2000.0, 4000.0)
    assert row.run_type_latency == {
        "llm": {"runs": 3, "p50_ms": 800.0, "p95_ms": 1500.0},
        "tool": {"runs": 2, "p50_ms": 100.0, "p95_ms": 300.0},
    }
    assert (row.first_seen_at, row.last_seen_at) == (
        DAY + timedelta(hours=10),
        DAY + timedelta(hours=10, seconds=30),
    )


def test_rates_of_all_traffic_are_exact(rolled_up):
    rates = metrics.rollup_rates(rolled_up[("all", "")])

    assert rates["thumbs_down_rate"] == 0.25
    assert rates["success_rate"] == 0.666667  # 2 of 3 judged
    assert rates["cost_per_trace"] == 0.015
    assert rates["cost_per_success"] == 0.0225  # 0.015 / (2/3)
    assert rates["tokens_per_trace"] == 150.0 and rates["tokens_per_success"] == 225.0
    assert (rates["tool_error_rate"], rates["parse_error_rate"]) == (0.25, 0.25)
    assert (rates["empty_response_rate"], rates["max_tokens_rate"]) == (0.25, 0.25)
    assert rates["breaker_rate"] == 0.25
    assert rates["redundant_call_rate"] == 0.5  # two identical lookups, one redundant
    assert rates["tool_calls_per_success"] == 0.0


def test_a_regression_in_one_prompt_hash_shows_in_its_slice(rolled_up):
    p1 = metrics.rollup_rates(rolled_up[("prompt_hash", "p1")])
    p2 = metrics.rollup_rates(rolled_up[("prompt_hash", "p2")])

    assert (p1["traces"], p1["thumbs_down_rate"], p1["success_rate"]) == (2, 0.5, 0.5)
    assert (p1["latency_p50_ms"], p1["latency_p95_ms"]) == (1000.0, 2000.0)
    assert (p1["cost_per_trace"], p1["cost_per_success"]) == (0.015, 0.03)
    assert (p2["traces"], p2["thumbs_down_rate"], p2["success_rate"]) == (2, 0.0, 1.0)
    assert (p2["latency_p50_ms"], p2["latency_p95_ms"]) == (3000.0, 4000.0)
    assert (p2["cost_per_success"], p2["breaker_rate"], p2["max_tokens_rate"]) == (0.015, 0.5, 0.5)


def test_slices_take_values_from_run_metadata_then_the_llm_run_then_feedback(rolled_up):
    models = {v: r.traces for (d, v), r in rolled_up.items() if d == "model_id"}
    tiers = {v: (r.traces, r.successes) for (d, v), r in rolled_up.items() if d == "customer_tier"}

    assert models == {"m1": 1, "gpt-4o": 1, "claude": 1, "": 1}
    assert tiers == {"pro": (1, 1), "free": (1, 0), "": (2, 1)}


def test_rollup_is_idempotent(project, rolled_up):
    before = MetricRollup.objects.filter(project=project).count()

    metrics.metrics_rollup(
        project=project, granularity="day", bucket_start=DAY + timedelta(hours=5)
    )

    assert MetricRollup.objects.filter(project=project).count() == before == len(rolled_up)


def _recent_base():
    """An hour start two hours ago: one hour bucket and one day bucket hold all of it."""
    return metrics.bucket_floor(timezone.now() - timedelta(hours=2), "hour") + timedelta(minutes=10)


@pytest.fixture
def recent(project):
    base = _recent_base()
    known_traffic(project, base)
    metrics.metrics_rebuild(project=project, days=2)
    return base


def test_metrics_api_gives_daily_figures_per_prompt_hash(project, recent):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    body = client.get("/api/v1/metrics?days=2&by=prompt_hash").json()

    assert body["by"] == "prompt_hash" and body["days"] == 2
    assert [(s["value"], s["traces"]) for s in body["series"]] == [("p1", 2), ("p2", 2)]
    (p1_day,) = body["series"][0]["days"]
    assert p1_day["day"] == recent.date().isoformat()
    assert (p1_day["thumbs_down_rate"], p1_day["success_rate"]) == (0.5, 0.5)
    assert (p1_day["cost_per_success"], p1_day["latency_p95_ms"]) == (0.03, 2000.0)
    assert p1_day["latency_by_run_type"]["tool"] == {"runs": 2, "p50_ms": 100.0, "p95_ms": 300.0}


def test_metrics_api_names_the_bad_field(project):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    bad_by = client.get("/api/v1/metrics?by=colour")
    bad_days = client.get("/api/v1/metrics?days=0")

    assert bad_by.status_code == 400 and bad_by.json()["error"] == "invalid"
    assert list(bad_by.json()["fields"]) == ["by"]
    assert bad_days.status_code == 400 and list(bad_days.json()["fields"]) == ["days"]


def test_metrics_api_needs_the_read_scope(project):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['ingest'])}"})

    response = client.get("/api/v1/metrics")

    assert response.status_code == 403 and response.json()["error"] == "forbidden"


def test_versions_in_production_lists_prompt_hashes_and_models_with_share(project, recent):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    body = client.get("/api/v1/versions-in-production").json()

    assert body["traces"] == 4
    assert [(v["value"], v["traces"], v["share"]) for v in body["prompt_hashes"]] == [
        ("p1", 2, 0.5),
        ("p2", 2, 0.5),
    ]
    p2 = body["prompt_hashes"][1]
    assert p2["first_seen_at"] == (recent + timedelta(seconds=20)).isoformat().replace(
        "+00:00", "Z"
    )
    assert p2["last_seen_at"] == (recent + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    assert {v["value"]: v["share"] for v in body["model_ids"]} == {
        "": 0.25, "claude": 0.25, "gpt-4o": 0.25, "m1": 0.25,
    }  # fmt: skip


def test_the_periodic_task_rolls_up_this_hour_and_today(project):
    known_traffic(project, metrics.bucket_floor(timezone.now(), "hour"))

    from triage.tasks import metrics_rollup

    metrics_rollup.apply().get()

    now = timezone.now()
    day = MetricRollup.objects.get(
        project=project, granularity="day", dimension="all",
        bucket_start=metrics.bucket_floor(now, "day"),
    )  # fmt: skip
    hour = MetricRollup.objects.get(
        project=project, granularity="hour", dimension="all",
        bucket_start=metrics.bucket_floor(now, "hour"),
    )  # fmt: skip
    assert (day.traces, hour.traces) == (4, 4)
