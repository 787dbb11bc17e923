import pytest

from triage.ranking import cluster_score, priority, regression_check, top_tier

TIERS = {"free": 1.0, "pro": 2.0, "enterprise": 4.0}
SEVERITY = {"p0": 3.0, "p1": 1.0}


def score(**kw):
    args = dict(
        reports=12, tier="enterprise", is_p0=False, tier_weights=TIERS, severity_weights=SEVERITY
    )
    return cluster_score(**(args | kw))


def test_score_grows_with_log_frequency_tier_and_severity():
    base, _ = score(reports=3, tier="free")
    assert score(reports=7, tier="free")[0] == pytest.approx(base * 1.5)  # log2(8)/log2(4)
    assert score(reports=3, tier="enterprise")[0] == pytest.approx(base * 4)
    assert score(reports=3, tier="free", is_p0=True)[1]["priority"] == pytest.approx(base * 3)


def test_severity_is_a_floor_p0_above_any_p1_and_tier_orders_within():
    unsafe_free, b = score(reports=1, tier="free", is_p0=True)
    p1_enterprise_big, _ = score(reports=5000, tier="enterprise", is_p0=False)
    assert unsafe_free > p1_enterprise_big  # was 3.0 < 49.2 as a plain product
    assert score(reports=1, tier="enterprise", is_p0=True)[0] > unsafe_free
    assert priority(unsafe_free) == pytest.approx(b["priority"])
    assert b["formula"] == (
        "log2(1 + 1) = 1.00 × tier free 1 × P0 3 × recency 1.00 × SLA urgency 1.00 = 3.0, "
        "+ 1000 for P0"
    )


def test_breakdown_keeps_the_template_keys_and_explains_the_sla():
    value, b = score(is_p0=True, hours_since_first=21, sla_hours=72, sla_weight=2.0)
    for key in ("reports", "tier", "severity", "score", "tier_weight", "severity_weight"):
        assert key in b
    assert b["score"] == value
    assert b["sla_hours_left"] == 51
    assert b["summary"] == "12 reports × enterprise × P0, 51 h to SLA"


def test_p0_urgency_rises_towards_the_sla_and_caps_after_breach():
    fresh, _ = score(is_p0=True, hours_since_first=0, sla_weight=2.0)
    near, _ = score(is_p0=True, hours_since_first=54, sla_weight=2.0)
    breached, b = score(is_p0=True, hours_since_first=100, sla_weight=2.0)
    assert fresh < near < breached
    assert priority(breached) == pytest.approx(priority(fresh) * 3)
    assert "SLA breached 28 h ago" in b["summary"]
    # P1 clusters have no SLA clock.
    assert score(hours_since_first=100, sla_weight=2.0)[1]["sla_hours_left"] is None


def test_recency_decays_with_a_floor():
    now, _ = score(half_life_hours=24, hours_since_last=0)
    day, _ = score(half_life_hours=24, hours_since_last=24)
    ancient, b = score(half_life_hours=24, hours_since_last=24 * 30, recency_floor=0.1)
    assert day == pytest.approx(now / 2, rel=1e-3)
    assert ancient == pytest.approx(now * 0.1, rel=1e-3)
    assert "quiet for 720 h" in b["summary"]


def test_top_tier_picks_the_most_valuable():
    assert top_tier(["free", "", "enterprise", "pro"], TIERS) == "enterprise"
    assert top_tier([], TIERS) == ""


def test_regression_needs_a_jump_over_baseline_and_a_minimum():
    assert regression_check(recent=4, baseline_per_window=0.0, factor=3, min_reports=5) == ""
    assert regression_check(recent=5, baseline_per_window=0.0, factor=3, min_reports=5)
    assert regression_check(recent=20, baseline_per_window=10, factor=3, min_reports=5) == ""
    assert "regression" in regression_check(
        recent=30, baseline_per_window=10, factor=3, min_reports=5
    )
