"""Production-health metrics on a small known dataset: the rollup, its rates per slice, the
metrics API and versions in production, with exact values."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import api_key_for, health_traffic, recent_base
from triage import metrics
from triage.models import MetricRollup

pytestmark = pytest.mark.django_db


DAY = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def rolled_up(project):
    health_traffic(project, DAY + timedelta(hours=10))
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


@pytest.fixture
def recent(project):
    base = recent_base()
    health_traffic(project, base)
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
    # An empty value is a value, not "use the default" (DRF reads a QueryDict that way).
    for query, field in (("by=", "by"), ("days=", "days")):
        empty = client.get(f"/api/v1/metrics?{query}")
        assert empty.status_code == 400 and list(empty.json()["fields"]) == [field], query

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
    health_traffic(project, metrics.bucket_floor(timezone.now(), "hour"))

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


def test_the_periodic_rollup_drops_hourly_rows_older_than_a_week(project):
    old = metrics.bucket_floor(timezone.now() - timedelta(days=8), "day")
    for granularity in ("hour", "day"):
        MetricRollup.objects.create(
            project=project, granularity=granularity, bucket_start=old, dimension="all", traces=1
        )

    metrics.metrics_rollup_recent()

    kept = MetricRollup.objects.filter(bucket_start=old).values_list("granularity", flat=True)
    assert list(kept) == ["day"]
