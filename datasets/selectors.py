"""Reads for golden sets: versions as cases (streamed), diffs, the working copy."""

import hashlib
import math
import statistics

from django.db.models import Count, Max, Q

from accounts.query_params import parse_int

from . import jsonl
from .models import Case, CaseRevision, GoldenSet, GoldenSetVersion

CHUNK = 5000
DIFF_FIELDS = ("input", "expected", "criteria", "tags", "failure_mode", "split", "source")


def version_resolve(*, golden_set, ref):
    """A ref is a version number, `latest`, a tag, or `sha256:<digest>`."""
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set)
    if "\x00" in ref:  # PostgreSQL refuses NUL in text; no ref holds one
        return None
    if ref == "latest":
        return versions.order_by("-number").first()
    if ref.isdigit():  # "²" is a digit too: parse_int says no (→ None)
        number = parse_int(ref, maximum=2**31 - 1)
        return versions.filter(number=number).first() if number is not None else None
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


def _in_version(number):
    return Q(first_version__lte=number) & (
        Q(last_version__isnull=True) | Q(last_version__gte=number)
    )


def _range_cases(golden_set_id, number, split=None):
    """The cases of a range-stored version as dicts, from their stored lines."""
    for chunk in _range_texts(golden_set_id, number, ["line"], split):
        for _, line in chunk:
            yield jsonl.case_from_line(line)


def _range_texts(golden_set_id, number, columns, split=None):
    """Stored (line, csv_line, …) text of a range-stored version's revisions, in case
    order, a chunk (list of tuples) at a time.

    One query read through a cursor (server-side on PostgreSQL), not keyset pages: right
    after a big publish the planner's statistics still say "no revision is published",
    and a page query would then sort the whole version once per page.
    """
    rows = CaseRevision.objects.filter(_in_version(number), golden_set_id=golden_set_id)
    if split:
        rows = rows.filter(split=split)
    chunk = []
    for row in (
        rows.order_by("case_number").values_list("case_number", *columns).iterator(chunk_size=CHUNK)
    ):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def version_cases(*, version, split=None):
    """Every case of a published version as a cases.jsonl dict, in order."""
    if version.body:  # published before revisions: the stored body is the truth
        for line in version.body.splitlines():
            case = jsonl.case_from_line(line)
            if not split or case["split"] == split:
                yield case
        return
    yield from _range_cases(version.golden_set_id, version.number, split)


def version_jsonl_chunks(*, version, split=None):
    """cases.jsonl bytes of a version, streamed; a stored body is sent verbatim."""
    if version.body and not split:
        for start in range(0, len(version.body), 1 << 20):
            yield version.body[start : start + (1 << 20)]
        return
    if version.body:
        lines = (ln for ln in version.body.splitlines(keepends=True)
                 if jsonl.case_from_line(ln)["split"] == split)  # fmt: skip
        yield from _batched(lines)
        return
    for chunk in _range_texts(version.golden_set_id, version.number, ["line"], split):
        yield "".join(f"{line}\n" for _, line in chunk)


def version_csv_chunks(*, version, split=None):
    yield jsonl.csv_header()
    if version.body:
        yield from _batched(jsonl.csv_rows(version_cases(version=version, split=split)))
        return
    for chunk in _range_texts(version.golden_set_id, version.number, ["csv_line"], split):
        yield "".join(row for _, row in chunk)


def _batched(pieces, size=500):
    batch = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def version_digests(*, golden_set, number):
    """sha256 of the JSONL and the CSV body of version `number` (its revisions' stored
    text) and its case count, in one streamed pass."""
    body = hashlib.sha256()
    csv_body = hashlib.sha256(jsonl.csv_header().encode())
    count = 0
    for chunk in _range_texts(golden_set.pk, number, ["line", "csv_line"]):
        body.update("".join(f"{line}\n" for _, line, _ in chunk).encode())
        csv_body.update("".join(row for _, _, row in chunk).encode())
        count += len(chunk)
    return {
        "digest": "sha256:" + body.hexdigest(),
        "csv_digest": "sha256:" + csv_body.hexdigest(),
        "case_count": count,
    }


def version_csv_digest(*, version):
    """The cases.csv ETag: stored at publish; for versions published before it existed,
    computed on the first CSV request and kept."""
    if not version.csv_digest:
        digest = hashlib.sha256()
        for chunk in version_csv_chunks(version=version):
            digest.update(chunk.encode())
        version.csv_digest = "sha256:" + digest.hexdigest()
        # A derived cache of bytes that never change, not a change to the version.
        GoldenSetVersion.objects.filter(pk=version.pk).update(csv_digest=version.csv_digest)
    return version.csv_digest


def _diff_sides_from_ranges(golden_set, old, new):
    """Only revisions whose range starts or ends between the two versions can differ."""
    lo, hi = sorted((old, new))
    rows = CaseRevision.objects.filter(golden_set=golden_set).filter(
        Q(first_version__gt=lo, first_version__lte=hi)
        | Q(last_version__gte=lo, last_version__lt=hi)
    )
    sides = {lo: {}, hi: {}}
    for row in rows.order_by("case_number").values(
        "case_key", "case_number", "first_version", "last_version", *DIFF_FIELDS
    ):
        row["case_id"] = row.pop("case_key")
        for number, side in sides.items():
            if row["first_version"] <= number and (
                row["last_version"] is None or row["last_version"] >= number
            ):
                side[row["case_id"]] = row
    return sides[old], sides[new]


def version_diff(*, golden_set, old, new):
    """What changed from version `old` to `new` (either order): added and removed case
    ids, and per changed case the fields that differ with their values before and after."""
    if old.number == new.number:
        before, after = {}, {}
    elif not old.body and not new.body:
        before, after = _diff_sides_from_ranges(golden_set, old.number, new.number)
    else:  # a version stored as a body (published before revisions): compare in full
        before = {c["case_id"]: c for c in version_cases(version=old)}
        after = {c["case_id"]: c for c in version_cases(version=new)}
    changed = []
    for case_id, case in after.items():
        if case_id not in before:
            continue
        fields = [f for f in DIFF_FIELDS if before[case_id][f] != case[f]]
        if fields:
            changed.append(
                {
                    "case_id": case_id,
                    "fields": fields,
                    "before": {f: before[case_id][f] for f in fields},
                    "after": {f: case[f] for f in fields},
                }
            )
    return {
        "from": old.number,
        "to": new.number,
        "added": [case_id for case_id in after if case_id not in before],
        "removed": [case_id for case_id in before if case_id not in after],
        "changed": changed,
    }


def golden_set_for_project(*, project, slug):
    return GoldenSet.objects.filter(project=project, slug=slug).first()


def cases_working_copy(*, golden_set, status=None):
    cases = Case.objects.filter(golden_set=golden_set).order_by("number")
    if status:
        cases = cases.filter(status=status)
    return cases


def case_revisions(*, case):
    return case.revisions.select_related("created_by").order_by("-revision")


def case_status_counts(*, golden_set):
    counts = dict.fromkeys(Case.Status.values, 0)
    rows = Case.objects.filter(golden_set=golden_set).values_list("status").annotate(n=Count("pk"))
    counts.update(dict(rows))
    return counts


def latest_version_number(*, golden_set):
    return golden_set.versions.aggregate(latest=Max("number"))["latest"] or 0
