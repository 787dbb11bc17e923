"""Reads for golden sets."""

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


def queue_item_default_input(item):
    """The scrubbed input of the first trace's root run, else the first scrubbed comment."""
    for trace in item.scrubbed.get("traces", []):
        for run in trace["runs"]:
            if not run["parent_run_id"]:
                return run["inputs"]
    comments = item.scrubbed.get("comments", [])
    return {"comment": comments[0]["text"]} if comments else {}


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


def time_to_eval_summary(*, golden_set, sla_hours):
    cases = [c for c in golden_set.cases.all() if c.time_to_eval_hours is not None]
    hours = sorted(c.time_to_eval_hours for c in cases)
    p0 = [c for c in cases if "p0" in c.tags]
    return {
        "published_cases": len(cases),
        "median_hours": hours[len(hours) // 2] if hours else None,
        "max_hours": hours[-1] if hours else None,
        "p0_cases": len(p0),
        "p0_within_sla": sum(1 for c in p0 if c.time_to_eval_hours <= sla_hours),
    }
