"""Benchmark golden-set versions on PostgreSQL (a script, not a test).

    .venv/bin/python bench/golden.py                       # 20 k and 100 k cases
    .venv/bin/python bench/golden.py --sizes 20000 --edits 10

It creates its own database (default triage_bench_golden, dropped first), loads each
set's cases and their revision-1 rows with INSERT … SELECT generate_series (loading is
not timed), then measures, per size:

* the first publish (every case opens a revision range), and a publish after editing
  `--edits` cases (only those revisions are closed and opened) — cases/s of the version;
* exports through the API view (auth, ref lookup, streamed response), JSONL and CSV, each
  in a fresh child process: cases/s, the child's peak RSS (and its RSS before the export),
  and byte identity (two exports' sha256, and against the stored digest / ETag);
* the diff of the two versions (API selector; the view adds only serialisation).

Targets, against Arize Phoenix measured on this machine (upload 644 examples/s, JSONL
download 9,560 examples/s): publish ≥ 20× upload, export ≥ 5× download, diff of 100 k ≤ 2 s.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project, for Django

PHOENIX_UPLOAD, PHOENIX_DOWNLOAD = 644, 9_560


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    p.add_argument("--edits", type=int, default=10, help="cases edited before the 2nd publish")
    p.add_argument("--db", default="triage_bench_golden", help="database name (dropped first)")
    p.add_argument(
        "--base-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL; only the database name is replaced",
    )
    p.add_argument(
        "--export-child", nargs=4, metavar=("URL", "KEY", "PATH", "OUT"), help=argparse.SUPPRESS
    )
    return p.parse_args()


def db_url(args):
    return urlunsplit(urlsplit(args.base_url)._replace(path=f"/{args.db}"))


def django_setup(url):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)  # embedded tasks and caches: nothing here needs Redis
    import django

    django.setup()


def setup_database(args):
    parts = urlsplit(args.base_url)
    import psycopg

    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    django_setup(db_url(args))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load(golden_set, n):
    """n cases (realistic sizes: a chat input, an expected answer, criteria) + revision 1
    (not timed)."""
    from django.db import connection

    question = "I ordered a gift card for <PERSON_1> on the 3rd and it never arrived; " * 3
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO datasets_case (golden_set_id, number, case_id, input, expected, criteria,
                tags, failure_mode, split, source, status, revision, trace_ids, created_at)
            SELECT %s, g, 'bench-' || lpad(g::text, 6, '0'),
                jsonb_build_object('messages', jsonb_build_array(
                    jsonb_build_object('role', 'system', 'content', 'Use only the policy.'),
                    jsonb_build_object('role', 'user', 'content', %s || ' order ' || g))),
                jsonb_build_object('output', 'Gift cards are refunded within 30 days. ' || g),
                'Cites the 30-day policy; offers to start the refund.',
                jsonb_build_array('billing', CASE WHEN g %% 10 = 0 THEN 'p0' ELSE 'candidate' END),
                'retrieval_miss',
                CASE WHEN ('x' || substr(md5(g::text), 1, 8))::bit(32)::bigint %% 100 < 20
                     THEN 'holdout' ELSE 'dev' END,
                'thumbs-down-2026-11-20', 'active', 1, '[]'::jsonb, now()
            FROM generate_series(1, %s) AS g
            """,
            [golden_set.pk, question, n],
        )
    # Revision 1 of each case, with its encoded JSONL line and CSV record: in the product
    # that happens when a case is written (promote, import, edit), not at publish.
    from datasets.services import _revisions_materialise

    _revisions_materialise(golden_set, latest=0)
    with connection.cursor() as cur:
        cur.execute("ANALYZE datasets_case; ANALYZE datasets_caserevision")


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _vm(field):
    """VmHWM (peak) or VmRSS of this process in MB. Not ru_maxrss: Linux carries that over
    exec from the (big) parent that forked us."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def export_child(url, key, path, out):
    """Runs in a fresh process: one streamed export through the API view."""
    django_setup(url)
    from django.test import Client

    rss_before = _vm("VmRSS")
    client = Client(headers={"Authorization": f"Bearer {key}"})
    # Warm the process (URLconf, API modules, the key lookup) on a tiny request, so the
    # timing below is the export, not the first request of a fresh interpreter.
    client.get(path.split("/versions/")[0] + "/versions")
    digest, size = hashlib.sha256(), 0
    started = time.perf_counter()
    response = client.get(path)
    for chunk in response.streaming_content:
        digest.update(chunk)
        size += len(chunk)
    seconds = time.perf_counter() - started
    Path(out).write_text(
        json.dumps(
            {
                "status": response.status_code,
                "etag": response["ETag"],
                "sha256": "sha256:" + digest.hexdigest(),
                "bytes": size,
                "seconds": seconds,
                "rss_before_mb": rss_before,
                "rss_peak_mb": _vm("VmHWM"),
            }
        )
    )


def export(args, key, path):
    out = Path(f"/tmp/bench-golden-export-{os.getpid()}.json")
    subprocess.run(
        [sys.executable, __file__, "--db", args.db, "--base-url", args.base_url,
         "--export-child", db_url(args), key, path, str(out)],
        check=True, cwd=ROOT,
    )  # fmt: skip
    result = json.loads(out.read_text())
    out.unlink()
    return result


def bench_size(args, project, key, n, lead):
    from datasets import selectors, services
    from datasets.models import CaseRevision, GoldenSet

    golden_set = GoldenSet.objects.create(project=project, slug=f"bench-{n}", name=f"Bench {n}")
    _, load_s = timed(lambda: load(golden_set, n))
    print(f"\n== {n:,} cases (loaded in {load_s:.1f} s, not timed below)")

    v1, s = timed(lambda: services.golden_set_version_publish(golden_set=golden_set, user=lead))
    print(f"first publish        {s:7.2f} s  {n / s:10,.0f} cases/s  "
          f"({n / s / PHOENIX_UPLOAD:5.1f}× Phoenix upload; target ≥ 20×)")  # fmt: skip

    for case in golden_set.cases.order_by("?")[: args.edits]:
        other = "holdout" if case.split == "dev" else "dev"
        services.case_update(case=case, changes={"split": other, "tags": [*case.tags, "edited"]},
                             user=lead, scrub=False)  # fmt: skip
    from django.db import connection

    revision_writes = []

    def watch(execute, sql, params, many, context):
        if (
            sql.startswith(("UPDATE", "INSERT"))
            and "datasets_caserevision" in sql.split("WHERE")[0]
        ):
            revision_writes.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        v2, s = timed(lambda: services.golden_set_version_publish(golden_set=golden_set, user=lead))
    opened = CaseRevision.objects.filter(golden_set=golden_set, first_version=2).count()
    closed = CaseRevision.objects.filter(golden_set=golden_set, last_version=1).count()
    print(f"publish after {args.edits} edits {s:7.2f} s  {n / s:10,.0f} cases/s  "
          f"({n / s / PHOENIX_UPLOAD:5.1f}× Phoenix upload); revision statements in the "
          f"publish: {len(revision_writes)}; the edits opened {opened} and closed {closed} "
          f"of {n:,} revision ranges")  # fmt: skip

    base = f"/api/v1/golden-sets/{golden_set.slug}/versions/2/cases"
    for fmt, expected_etag in (("jsonl", v2.digest), ("csv", None)):
        a, b = export(args, key, f"{base}.{fmt}"), export(args, key, f"{base}.{fmt}")
        identical = a["sha256"] == b["sha256"]
        etag_ok = a["etag"] == f'"{expected_etag or a["sha256"]}"'
        for label, run in (("1st", a), ("2nd", b)):
            rate = n / run["seconds"]
            print(f"export {fmt:5} ({label})   {run['seconds']:7.2f} s  {rate:10,.0f} cases/s  "
                  f"({rate / PHOENIX_DOWNLOAD:5.1f}× Phoenix download; target ≥ 5×)  "
                  f"{run['bytes'] / 1e6:6.1f} MB  peak RSS {run['rss_peak_mb']:.0f} MB "
                  f"(before export {run['rss_before_mb']:.0f} MB)")  # fmt: skip
        what = "the digest" if fmt == "jsonl" else "the body"
        print(f"  two {fmt} exports identical: {identical}; ETag matches {what}: {etag_ok}")

    diff, s = timed(lambda: selectors.version_diff(golden_set=golden_set, old=v1, new=v2))
    print(f"diff v1→v2           {s:7.3f} s  (target ≤ 2 s)  {len(diff['changed'])} changed, "
          f"{len(diff['added'])} added, {len(diff['removed'])} removed")  # fmt: skip
    _, s = timed(lambda: selectors.version_diff(golden_set=golden_set, old=v2, new=v2))
    print(f"diff v2→v2           {s:7.3f} s")


def main():
    args = parse_args()
    if args.export_child:
        export_child(*args.export_child)
        return
    setup_database(args)
    from django.contrib.auth import get_user_model

    from accounts.models import Project
    from accounts.services import api_key_create

    project = Project.objects.create(slug="bench", name="Bench")
    lead = get_user_model().objects.create_user("bench-lead", password="x")
    _, key = api_key_create(project=project, scopes=["datasets:read"])
    print(f"database {args.db}; Phoenix baseline: upload {PHOENIX_UPLOAD}/s, "
          f"JSONL download {PHOENIX_DOWNLOAD:,}/s")  # fmt: skip
    for n in args.sizes:
        bench_size(args, project, key, n, lead)


if __name__ == "__main__":
    main()
