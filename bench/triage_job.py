"""The triage job end to end on 100 k and 1 M generated feedback events (PostgreSQL).

    .venv/bin/python bench/triage_job.py [--sizes 100000,1000000] [--seed 7]
        [--db postgres://postgres@127.0.0.1:5432/triage_bench_job]

Each size runs in a fresh child process (so peak RSS is per size) on its own database:
events (and root runs for a share of them) are bulk-loaded with COPY, then
`triage_job_execute(scrub=False)` is timed: auto-flags over the new runs, clustering (normalize →
fingerprint → MinHash LSH), stats, ranking, queue fill. Presidio scrubbing is skipped.

The generator makes "issues": a category, a few key words (with synonyms), phrased through
templates with fillers, numbers, emails, ids and casing noise; sizes are Zipf-distributed
(a few huge, a long tail), plus 8 % one-off complaints. Clustering quality is pairwise
precision/recall of the clusters against those true groups.
"""

import argparse
import io
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/triage_bench_job"

CATEGORIES = ["wrong", "unsafe", "slow", "unhelpful", "billing", "other"]
NOUNS = """shoes jacket laptop phone lamp desk watch bag invoice subscription password account
refund coupon delivery parcel warranty charger headphones camera tablet printer router sofa
mattress ticket flight hotel booking insurance loan mortgage card transfer payroll tax
report contract policy recipe medication dosage allergy vaccine appointment prescription
visa passport license permit translation summary spreadsheet chart slide email calendar
meeting reminder alarm playlist podcast movie series game console keyboard mouse monitor
battery screen speaker microphone bracelet ring necklace perfume shampoo vitamin protein
bike scooter tire engine brake mirror seat helmet tent stove lantern kayak paddle rope""".split()
VERBS = """refund cancel return track reset change upgrade downgrade explain translate
summarize calculate compare recommend schedule book pay split transfer verify unlock
install update repair replace deliver ship charge bill renew close open restore""".split()
PROBLEMS = """wrong late missing broken duplicate outdated rude unsafe slow incomplete
confusing invented hallucinated truncated expensive denied rejected ignored""".split()
SYNONYMS = {
    "refund": ["money back", "reimbursement"],
    "cancel": ["stop", "terminate"],
    "wrong": ["incorrect", "inaccurate"],
    "broken": ["not working", "faulty"],
    "late": ["delayed", "overdue"],
    "explain": ["clarify", "describe"],
    "missing": ["absent", "lost"],
    "charge": ["bill", "debit"],
}
TEMPLATES = [
    "{v} for my {n} order {num} is {p}",
    "How do I {v} the {n}? order {num} — it was {p}",
    "the bot said the {n} {v} was {p}, order #{num}",
    "{P} answer about {v} {n} (order {num})",
    "I asked to {v} my {n} and it is still {p}. Contact {email}",
    "Again: {n} {v} {p}!! ref {ident}",
    "why is the {n} {v} {p}? see https://shop.example.com/o/{num}",
    "{v} {n} {p} {num}",
]
FILLERS = ["", "", "please help", "this is the third time", "thanks", "seriously", "ugh"]
TIERS = ["free"] * 6 + ["pro"] * 3 + ["enterprise"]


def _word(rng, word):
    if word in SYNONYMS and rng.random() < 0.2:
        return rng.choice(SYNONYMS[word])
    return word


def make_issues(rng, n_issues):
    issues = []
    for i in range(n_issues):
        issues.append(
            {
                "category": CATEGORIES[i % len(CATEGORIES)],
                "n": rng.choice(NOUNS),
                "n2": rng.choice(NOUNS),
                "v": rng.choice(VERBS),
                "p": rng.choice(PROBLEMS),
                "t": rng.randrange(len(TEMPLATES)),
            }
        )
    return issues


def phrase(rng, issue, k):
    # Most reports of an issue reuse its template (the same complaint in other words is
    # rarer); every one varies numbers, emails, fillers and casing.
    template = TEMPLATES[issue["t"] if rng.random() < 0.7 else rng.randrange(len(TEMPLATES))]
    noun = issue["n"] if rng.random() < 0.85 else f"{issue['n']} {issue['n2']}"
    text = template.format(
        v=_word(rng, issue["v"]),
        n=noun,
        p=_word(rng, issue["p"]),
        P=_word(rng, issue["p"]).capitalize(),
        num=rng.randrange(10, 10**7),
        email=f"user{k}@example.com",
        ident=f"{rng.getrandbits(40):x}A1",
    )
    filler = rng.choice(FILLERS)
    text = f"{text} {filler}".strip()
    if rng.random() < 0.3:
        text = text.upper() if rng.random() < 0.1 else text.lower()
    return text


def one_off(rng):
    words = rng.sample(NOUNS, 2) + rng.sample(VERBS, 1) + rng.sample(PROBLEMS, 1)
    # Rare made-up words (letters only, or they would be masked as numbers): a true one-off.
    words += ["".join(rng.choices("bcdfghjklmnpqrstvwxz", k=7)) for _ in range(2)]
    rng.shuffle(words)
    return " ".join(words)


def generate(n, seed):
    """Yield (group, category, comment, tier, created_at, question or None)."""
    rng = random.Random(seed)
    n_issues = max(50, n // 200)
    issues = make_issues(rng, n_issues)
    weights = [1 / (r + 1) ** 1.1 for r in range(n_issues)]
    now = datetime.now(UTC)
    picks = rng.choices(range(n_issues), weights=weights, k=n)
    for k in range(n):
        created = now - timedelta(seconds=rng.randrange(7 * 24 * 3600))
        tier = rng.choice(TIERS)
        if rng.random() < 0.08:
            yield (-k - 1, rng.choice(CATEGORIES), one_off(rng), tier, created, None)
            continue
        g = picks[k]
        issue = issues[g]
        question = None
        if rng.random() < 0.05:
            question = f"can you {issue['v']} my {issue['n']}"
        yield (g, issue["category"], phrase(rng, issue, k), tier, created, question)


# --- database --------------------------------------------------------------------------------


def ensure_database(url):
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _copy_rows(cur, table, fixed, rows):
    """COPY `rows` (dicts over `fixed` columns) into `table`, defaulting other NOT NULLs."""
    cols = cur.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL
           AND column_name <> 'id'""",
        [table],
    ).fetchall()
    defaults = {
        "text": "",
        "character varying": "",
        "jsonb": "{}",
        "integer": 0,
        "bigint": 0,
        "double precision": 0,
        "boolean": False,
        "timestamp with time zone": datetime.now(UTC),
    }
    extra = [(c, defaults.get(t, "")) for c, t in cols if c not in fixed]
    names = list(fixed) + [c for c, _ in extra]
    with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([*row, *(v for _, v in extra)])


def load(n, seed, project_id):
    from django.db import connection

    runs = []

    def event_rows():
        for k, (group, category, comment, tier, created, question) in enumerate(generate(n, seed)):
            trace = f"tr-{k}"
            if question:
                runs.append(
                    (project_id, trace, trace, "", "chain", {"question": question}, created)
                )
            yield (
                project_id, f"{k:064x}", trace, "down", category, comment, tier, f"g{group}",
                "explicit", created, created,
            )  # fmt: skip

    from psycopg.types.json import Jsonb

    with connection.cursor() as c:
        cur = c.cursor  # the psycopg cursor, for COPY
        _copy_rows(
            cur,
            "feedback_feedbackevent",
            ["project_id", "body_hash", "trace_id", "rating", "category", "comment",
             "customer_tier", "message_id", "source", "created_at", "received_at"],
            event_rows(),
        )  # fmt: skip
        _copy_rows(
            cur,
            "feedback_run",
            ["project_id", "run_id", "trace_id", "parent_run_id", "run_type", "inputs",
             "start_time"],
            ((p, r, t, pr, rt, Jsonb(i), s) for p, r, t, pr, rt, i, s in runs),
        )  # fmt: skip
        cur.execute("ANALYZE feedback_feedbackevent")
        cur.execute("ANALYZE feedback_run")
    return len(runs)


def quality(project_id):
    """Pairwise precision/recall of clusters vs true groups (one-offs are their own group)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """WITH cg AS (SELECT cluster_id, message_id AS g, count(*) AS n
                           FROM feedback_feedbackevent WHERE project_id = %s
                           GROUP BY cluster_id, message_id)
               SELECT (SELECT sum(n * (n - 1) / 2) FROM cg),
                      (SELECT sum(m * (m - 1) / 2) FROM (SELECT sum(n) m FROM cg
                                                         GROUP BY cluster_id) c),
                      (SELECT sum(m * (m - 1) / 2) FROM (SELECT sum(n) m FROM cg
                                                         GROUP BY g) t),
                      (SELECT count(DISTINCT cluster_id) FROM cg),
                      (SELECT count(DISTINCT g) FROM cg)""",
            [project_id],
        )
        tp, predicted, true, clusters, groups = cur.fetchone()
    return {
        "precision": float(tp) / float(predicted) if predicted else 1.0,
        "recall": float(tp) / float(true) if true else 1.0,
        "clusters": clusters,
        "true_groups": groups,
    }


def child(size, seed, db):
    os.environ["DATABASE_URL"] = db
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Project
    from triage.job import triage_job_execute

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE feedback_feedbackevent, feedback_run, triage_clusterfingerprint, "
            "triage_queueitem, triage_cluster, triage_triagerun CASCADE"
        )
    project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    t0 = time.perf_counter()
    n_runs = load(size, seed, project.pk)
    load_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    summary = triage_job_execute(project=project, scrub=False)
    job_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    again = triage_job_execute(project=project, scrub=False)
    rerun_s = time.perf_counter() - t0
    q = quality(project.pk)
    print(
        f"size={size} runs={n_runs} load_s={load_s:.1f} job_s={job_s:.2f} "
        f"rerun_s={rerun_s:.2f} rss_before_mb={rss_before:.0f} peak_rss_mb={peak:.0f} "
        f"events={summary['events']} flagged={summary['flagged']} "
        f"open_clusters={summary['clusters']} queued={summary['queued']} "
        f"rerun_events={again['events']} rerun_queued={again['queued']} "
        f"clusters={q['clusters']} true_groups={q['true_groups']} "
        f"precision={q['precision']:.4f} recall={q['recall']:.4f} "
        f"phases={','.join(f'{k}:{v}' for k, v in summary['seconds'].items())}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seed, args.db)
        return
    ensure_database(args.db)
    results = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--seed", str(args.seed),
             "--db", args.db],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        sys.stderr.write(out.stderr[-3000:])
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "(no output)"
        print(line, flush=True)
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "job_s" in fields:
            results[size] = float(fields["job_s"])
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        ratio = results[big] / results[small]
        print(
            f"time ratio {big}/{small} = {ratio:.2f} for {big / small:.0f}× the events "
            f"(linear would be {big / small:.0f}); "
            f"{big / results[big]:,.0f} events/s at {big:,}"
        )


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 16
    main()
