"""The cases.jsonl wire format and its digest. Pure: same cases in, same bytes out."""

import hashlib
import json

CASE_KEYS = ("case_id", "input", "expected", "criteria", "tags", "failure_mode", "split", "source")


def case_line(case):
    """One case as a compact JSON line with API.md's keys in a fixed order."""
    return json.dumps(
        {key: case[key] for key in CASE_KEYS}, ensure_ascii=False, separators=(",", ":")
    )


def jsonl_body(cases):
    return "".join(case_line(case) + "\n" for case in cases)


def digest(body):
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def split_for(case_id, holdout_percent):
    """Stable split: a case stays in dev or holdout whatever else is added."""
    bucket = int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) % 100
    return "holdout" if bucket < holdout_percent else "dev"
