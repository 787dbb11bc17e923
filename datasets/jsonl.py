"""The cases.jsonl wire format and its digest. Pure: same cases in, same bytes out."""

import csv
import hashlib
import io
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


# --- cases.csv: the same columns; JSON-valued cells (input, expected, tags) as compact JSON.
JSON_COLUMNS = ("input", "expected", "tags")


def _csv_cell(key, value):
    if key in JSON_COLUMNS:
        return "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


class CsvWriter:
    """CSV records (RFC 4180 quoting, CRLF), columns in CASE_KEYS order; one buffer reused."""

    def __init__(self):
        self._out = io.StringIO()
        self._writer = csv.writer(self._out)

    def row(self, case):
        self._out.seek(0)
        self._out.truncate()
        self._writer.writerow([_csv_cell(key, case[key]) for key in CASE_KEYS])
        return self._out.getvalue()


def csv_header():
    return ",".join(CASE_KEYS) + "\r\n"


def csv_rows(cases):
    writer = CsvWriter()
    for case in cases:
        yield writer.row(case)


def case_from_line(line):
    """A cases.jsonl line back into a dict (for versions stored as a body)."""
    return json.loads(line)
