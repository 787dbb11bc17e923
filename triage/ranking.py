"""Cluster scoring, explained. Pure, so it is tested and benchmarked without a database.

score = severity floor + priority
priority = log2(1 + reports) × tier weight × severity weight × recency × SLA urgency

- severity is a floor, not only a weight: every P0 scores `SEVERITY_BAND` above any P1, so
  an `unsafe` P0 from a free user never ranks below a P1 from a big enterprise tier; tier,
  frequency, recency and the SLA order the clusters within one severity (the priority
  stays far below the band: log2 of a million reports × the largest weights is ~400);

- recency halves every `half_life_hours` since the cluster's last report (floored, so an old
  but huge problem does not vanish);
- SLA urgency only applies to P0 clusters: it grows linearly from 1 to 1 + `sla_weight` as
  the time since the first report approaches the SLA, and stays there once it is breached.
"""

import math

SEVERITY_BAND = 1000.0  # the distance between two severities' floors
SEVERITY_FLOOR = {"P0": SEVERITY_BAND, "P1": 0.0}


def cluster_score(
    *,
    reports,
    tier,
    is_p0,
    tier_weights,
    severity_weights,
    hours_since_last=0.0,
    hours_since_first=0.0,
    half_life_hours=None,
    recency_floor=0.1,
    sla_hours=72,
    sla_weight=0.0,
):
    frequency = math.log2(1 + reports)
    tier_weight = tier_weights.get(tier, 1.0)
    severity = "P0" if is_p0 else "P1"
    severity_weight = severity_weights["p0" if is_p0 else "p1"]
    recency = 1.0
    if half_life_hours:
        recency = max(recency_floor, 0.5 ** (max(hours_since_last, 0.0) / half_life_hours))
    sla_hours_left = None
    sla_factor = 1.0
    if is_p0 and sla_hours:
        sla_hours_left = round(sla_hours - hours_since_first, 1)
        elapsed = min(max(hours_since_first / sla_hours, 0.0), 1.0)
        sla_factor = 1.0 + sla_weight * elapsed
    priority = min(
        round(frequency * tier_weight * severity_weight * recency * sla_factor, 4),
        SEVERITY_BAND - 0.01,
    )
    score = round(SEVERITY_FLOOR[severity] + priority, 4)
    breakdown = {
        "reports": reports,
        "frequency": round(frequency, 4),
        "tier": tier or "unknown",
        "tier_weight": tier_weight,
        "severity": severity,
        "severity_weight": severity_weight,
        "recency": round(recency, 4),
        "hours_since_last": round(hours_since_last, 1),
        "sla_hours_left": sla_hours_left,
        "sla_factor": round(sla_factor, 4),
        "priority": priority,
        "severity_floor": SEVERITY_FLOOR[severity],
        "score": score,
    }
    breakdown["summary"] = score_summary(breakdown)
    breakdown["formula"] = score_formula(breakdown)
    return score, breakdown


def score_summary(b):
    """'12 reports × enterprise × P0, 51 h to SLA' — what the queue shows next to a score."""
    text = (
        f"{b['reports']} report{'' if b['reports'] == 1 else 's'} × {b['tier']} × {b['severity']}"
    )
    left = b.get("sla_hours_left")
    if left is not None:
        text += f", {left:.0f} h to SLA" if left > 0 else f", SLA breached {-left:.0f} h ago"
    if b.get("recency", 1.0) < 0.5:
        text += f", quiet for {b['hours_since_last']:.0f} h"
    return text


def score_formula(b):
    """The arithmetic behind a score, for "Why it ranks here"."""
    text = (
        f"log2(1 + {b['reports']}) = {b['frequency']:.2f} × tier {b['tier']} {b['tier_weight']:g}"
        f" × {b['severity']} {b['severity_weight']:g} × recency {b['recency']:.2f}"
    )
    if b.get("sla_hours_left") is not None:
        text += f" × SLA urgency {b['sla_factor']:.2f}"
    text += f" = {b['priority']:.1f}"
    if b["severity_floor"]:
        text += f", + {b['severity_floor']:g} for {b['severity']}"
    return text


def priority(score):
    """A score without its severity floor: what the queue shows next to the P0/P1 pill."""
    return math.fmod(score or 0.0, SEVERITY_BAND)


def top_tier(tiers, tier_weights):
    """The most valuable tier among a cluster's reports."""
    tiers = [t for t in tiers if t]
    return max(tiers, key=lambda t: (tier_weights.get(t, 1.0), t), default="")


def regression_check(*, recent, baseline_per_window, factor, min_reports):
    """A known issue regresses when its recent count jumps well above its baseline rate.

    Returns a human reason, or "" when the rate is normal.
    """
    bar = max(baseline_per_window * factor, min_reports)
    if recent >= bar:
        return (
            f"regression: {recent} reports in the window vs a baseline of "
            f"{baseline_per_window:.1f} (bar {bar:.1f})"
        )
    return ""
