"""Reads for golden sets."""

import math
import statistics

from .models import GoldenSetVersion


def case_as_json(case):
    return {
        "case_id": case.case_id,
        "input": case.input,
        "expected": case.expected,
        "criteria": case.criteria,
        "tags": case.tags,
        "failure_mode": case.failure_mode,
        "split": case.split,
        "source": case.source,
    }


def version_resolve(*, golden_set, ref):
    """A ref is a version number, `latest`, a tag, or `sha256:<digest>`."""
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set)
    if ref == "latest":
        return versions.order_by("-number").first()
    if ref.isdigit():
        return versions.filter(number=int(ref)).first()
    if ref.startswith("sha256:"):
        return versions.filter(digest=ref).first()
    # A set has few versions; scanning them keeps tag lookup the same on SQLite and PostgreSQL.
    return next((v for v in versions.order_by("-number") if ref in v.tags), None)


def hours_stats(hours):
    hours = sorted(hours)
    if not hours:
        return {"median_hours": None, "p90_hours": None, "max_hours": None}
    return {
        "median_hours": statistics.median(hours),
        "p90_hours": hours[math.ceil(0.9 * len(hours)) - 1],  # nearest rank
        "max_hours": hours[-1],
    }


def hours_between(start, end):
    if start is None or end is None:
        return None
    return max((end - start).total_seconds() / 3600, 0.0)


def time_to_eval_summary(*, cases, sla_hours):
    """Time-to-eval of published cases: spread, and how many P0s made the SLA."""
    cases = [c for c in cases if c.time_to_eval_hours is not None]
    p0 = [c for c in cases if "p0" in c.tags]
    return {
        "published_cases": len(cases),
        **hours_stats(c.time_to_eval_hours for c in cases),
        "p0_cases": len(p0),
        "p0_within_sla": sum(1 for c in p0 if c.time_to_eval_hours <= sla_hours),
    }
