"""Parsing and checking an import file (cases.jsonl lines or the cases.csv columns).

Pure: text in, rows out, or every problem by line ("line <n>") so nothing is imported
when any line is bad.
"""

import csv
import io
import re

from accounts.jsonbody import JsonInvalid, json_parse

from .jsonl import CASE_KEYS, JSON_COLUMNS

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
SPLITS = ("dev", "holdout")
# `source` is part of the cases.jsonl shape (so an export imports back) but not taken
# from the file: imported cases say `import-<date>`, an updated case keeps its own.
IGNORED = ("source",)


class ImportInvalid(Exception):
    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{len(fields)} bad line(s)")


def _check(case, seen):
    """Problems of one decoded case (empty list: fine), and its row for the service."""
    problems = []
    if not isinstance(case, dict):
        return ["Each line must be a JSON object (one case)."], None
    unknown = sorted(set(case) - set(CASE_KEYS))
    if unknown:
        allowed = ", ".join(CASE_KEYS)
        problems.append(f"Unknown field(s): {', '.join(unknown)}. Allowed: {allowed}.")
    row = {}
    case_id = case.get("case_id")
    if case_id not in (None, ""):
        if not isinstance(case_id, str) or not CASE_ID_RE.fullmatch(case_id):
            problems.append("case_id: use up to 80 letters, digits, '.', '_' or '-'.")
        elif case_id in seen:
            problems.append(f"case_id: '{case_id}' is already on line {seen[case_id]}.")
        else:
            row["case_id"] = case_id
    if not isinstance(case.get("input"), dict):
        problems.append("input: required, a JSON object.")
    else:
        row["input"] = case["input"]
    if "expected" in case:
        if case["expected"] is not None and not isinstance(case["expected"], dict):
            problems.append("expected: a JSON object or null.")
        row["expected"] = case["expected"]
    if "criteria" in case:
        if not isinstance(case["criteria"], str):
            problems.append("criteria: a string.")
        row["criteria"] = case["criteria"]
    if "tags" in case:
        tags = case["tags"]
        if not isinstance(tags, list) or not all(
            isinstance(t, str) and TAG_RE.fullmatch(t) for t in tags
        ):
            problems.append("tags: a list of slugs (lowercase letters, digits, '-', '_').")
        row["tags"] = tags
    if "failure_mode" in case:
        mode = case["failure_mode"]
        if not isinstance(mode, str) or len(mode) > 32:
            problems.append("failure_mode: a string of at most 32 characters.")
        row["failure_mode"] = mode
    if case.get("split") not in (None, ""):
        if case["split"] not in SPLITS:
            problems.append("split: 'dev' or 'holdout'.")
        row["split"] = case["split"]
    return problems, row


def _collect(numbered_cases):
    rows, errors, seen = [], {}, {}
    for number, case, problem in numbered_cases:
        if problem:
            errors[f"line {number}"] = [problem]
            continue
        problems, row = _check(case, seen)
        if problems:
            errors[f"line {number}"] = problems
        else:
            if "case_id" in row:
                seen[row["case_id"]] = number
            rows.append(row)
    if errors:
        raise ImportInvalid(errors)
    if not rows:
        raise ImportInvalid({"body": ["The file holds no cases."]})
    return rows


def _ndjson_cases(text):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json_parse(line), None
        except JsonInvalid as exc:
            yield number, None, exc.detail


def parse_ndjson(text):
    return _collect(_ndjson_cases(text))


def _csv_cases(text):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    unknown = [name for name in header if name not in CASE_KEYS]
    if unknown:
        yield 1, None, f"Unknown column(s): {', '.join(unknown)}. Allowed: {', '.join(CASE_KEYS)}."
        return
    start = reader.line_num + 1
    for cells in reader:
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield number, None, f"Expected {len(header)} cells, found {len(cells)}."
            continue
        case, problem = {}, None
        for name, cell in zip(header, cells, strict=True):
            if name in JSON_COLUMNS:
                if cell == "":
                    case[name] = [] if name == "tags" else None
                    continue
                try:
                    case[name] = json_parse(cell, field=name)
                except JsonInvalid as exc:
                    problem = f"{exc.field}: {exc.detail}"
                    break
            else:
                case[name] = cell
        yield number, case, problem


def parse_csv(text):
    return _collect(_csv_cases(text))
