"""Every existing case gets its revision rows; existing versions keep their stored bytes.

Revision 1 is what the latest published version L holds for the case (parsed from that
version's body), its range opening at L. A case the admin edited after that publish gets
revision 2 (its current text) entering version L+1, revision 1 closing at L; a
never-published case gets revision 1 from its current text, entering version L+1.
"""

import csv
import io
import json

from django.db import migrations

FIELDS = ("input", "expected", "criteria", "tags", "failure_mode", "split", "source")
# A frozen copy of datasets.jsonl's wire format as of this migration (migrations must not
# change when the app's code does).
KEYS = ("case_id", *FIELDS)


def _wire(case_id, values):
    case = {"case_id": case_id, **values}
    line = json.dumps({k: case[k] for k in KEYS}, ensure_ascii=False, separators=(",", ":"))
    out = io.StringIO()
    csv.writer(out).writerow(
        [
            ("" if case[k] is None else json.dumps(case[k], ensure_ascii=False, separators=(",", ":")))
            if k in ("input", "expected", "tags")
            else case[k]
            for k in KEYS
        ]
    )
    return {"line": line, "csv_line": out.getvalue()}


def backfill(apps, schema_editor):
    GoldenSet = apps.get_model("datasets", "GoldenSet")
    Case = apps.get_model("datasets", "Case")
    CaseRevision = apps.get_model("datasets", "CaseRevision")
    for golden_set in GoldenSet.objects.all().iterator():
        latest = golden_set.versions.order_by("-number").first()
        published = {}
        if latest is not None:
            for line in latest.body.splitlines():
                case = json.loads(line)
                published[case["case_id"]] = case
        next_version = (latest.number if latest else 0) + 1
        rows, bumped = [], []
        for case in Case.objects.filter(golden_set=golden_set).order_by("number").iterator():
            current = {f: getattr(case, f) for f in FIELDS}
            base = dict(
                golden_set_id=golden_set.pk,
                case_id=case.pk,
                case_number=case.number,
                case_key=case.case_id,
                status="active",
                created_by_id=case.created_by_id,
                created_at=case.created_at,
            )
            line = published.get(case.case_id)
            if line is None:
                rows.append(
                    CaseRevision(revision=1, changed=[], first_version=next_version,
                                 **base, **current, **_wire(case.case_id, current))  # fmt: skip
                )
                continue
            changed = [f for f in FIELDS if line[f] != current[f]]
            rows.append(
                CaseRevision(
                    revision=1, changed=[], first_version=latest.number,
                    last_version=latest.number if changed else None,
                    **base, **{f: line[f] for f in FIELDS},
                    **_wire(case.case_id, {f: line[f] for f in FIELDS}),
                )  # fmt: skip
            )
            if changed:
                rows.append(
                    CaseRevision(revision=2, changed=changed, first_version=next_version,
                                 **base, **current, **_wire(case.case_id, current))  # fmt: skip
                )
                bumped.append(case.pk)
        CaseRevision.objects.bulk_create(rows, batch_size=1000)
        Case.objects.filter(pk__in=bumped).update(revision=2)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0005_case_revisions")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
