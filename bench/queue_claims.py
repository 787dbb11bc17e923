"""Benchmark the annotation queue on PostgreSQL at scale (a script, not a test).

    .venv/bin/python bench/queue_claims.py                      # 1 M items, 20 reviewers
    .venv/bin/python bench/queue_claims.py --items 200000 --reviewers 20 --claims 50

It creates (or with --reuse keeps) its own database, bulk-loads clusters and queue items with
`generate_series` in SQL, then measures:

* claim-next latency (p50/p95) with N reviewer threads claiming at once, each on its own
  connection; every claim is followed by a label so the next claim moves on. Double claims
  are checked twice: in memory (no item handed out twice) and in the database afterwards.
* queue page render (p50/p95) through Django's full request path (middleware, session,
  template): the first page, a deep keyset page, a filtered page, with and without the
  status-count cache.
"""

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project, for Django


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--items", type=int, default=1_000_000, help="queue items to load")
    p.add_argument("--reviewers", type=int, default=20, help="concurrent reviewer threads")
    p.add_argument("--claims", type=int, default=50, help="claims per reviewer")
    p.add_argument(
        "--think-ms",
        type=int,
        nargs="+",
        default=[0, 250],
        help="mean pause between claim and label; one claim run per value",
    )
    p.add_argument("--renders", type=int, default=200, help="page renders per scenario")
    p.add_argument("--db", default="triage_bench_queue", help="database name (dropped first)")
    p.add_argument(
        "--base-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL; only the database name is replaced",
    )
    p.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    return p.parse_args()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def fmt(ms):
    return f"p50 {pct(ms, 50):7.2f} ms   p95 {pct(ms, 95):7.2f} ms   max {max(ms):7.2f} ms"


def setup_database(args):
    parts = urlsplit(args.base_url)
    url = urlunsplit(parts._replace(path=f"/{args.db}"))
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db]).fetchone()
        if exists and not args.reuse:
            conn.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.db}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return bool(exists)


def _insert_select(model, overrides, source):
    """INSERT … SELECT for every concrete column: SQL for `overrides`, model defaults else.

    Built from the model so columns added later (with defaults) need no change here.
    """
    from django.db import connection

    cols, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        cols.append(f'"{field.column}"')
        if field.name in overrides:
            exprs.append(overrides[field.name])
            continue
        default = field.get_default()
        if default is None and field.null:
            exprs.append("NULL")
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(default, connection=connection))
    table = model._meta.db_table
    return f'INSERT INTO "{table}" ({", ".join(cols)}) SELECT {", ".join(exprs)} {source}', params


def load(args):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from feedback.models import Membership, Project
    from triage.models import Cluster, QueueItem

    project = Project.objects.create(slug="bench", name="Bench")
    users = [
        get_user_model().objects.create_user(f"bench{i}", password="x")
        for i in range(args.reviewers + 1)
    ]
    for user in users:
        Membership.objects.create(project=project, user=user, role="reviewer")

    n = args.items
    started = time.monotonic()
    cats = "(ARRAY['wrong','unsafe','slow','unhelpful','billing','other'])[1 + g %% 6]"
    tiers = "(ARRAY['free','pro','enterprise'])[1 + (g / 7) %% 3]"
    cluster_sql, cluster_params = _insert_select(
        Cluster,
        {
            "project": str(project.pk),
            "fingerprint": "'bench-' || g",
            "category": cats,
            "event_count": "1 + g %% 17",
            "top_tier": tiers,
            "first_seen_at": "now() - (g %% 500) * interval '1 hour'",
            "last_seen_at": "now() - (g %% 50) * interval '1 minute'",
            "score": "round((random() * 100)::numeric, 1)",
            "score_breakdown": "jsonb_build_object('reports', 1 + g %% 17)",
        },
        f"FROM generate_series(1, {n}) g",
    )
    # ~90 % pending, the rest labelled or skipped: a realistic backlog.
    item_sql, item_params = _insert_select(
        QueueItem,
        {
            "project": str(project.pk),
            "cluster": "c.id",
            "score": "c.score",
            "status": "CASE WHEN c.id %% 10 = 0 THEN 'labelled' WHEN c.id %% 50 = 1 "
            "THEN 'skipped' ELSE 'pending' END",
            "scrubbed": "jsonb_build_object('comments', jsonb_build_array(jsonb_build_object("
            "'text', 'Complaint ' || c.id || ': the bot answered <PERSON_1> wrongly', "
            "'tier', c.top_tier, 'model_id', 'gpt-4o-mini', 'prompt_hash', 'ph-' || c.id %% 40, "
            "'created_at', '2026-11-20T10:00:00+00:00', 'trace_id', 't' || c.id, "
            "'source', 'explicit')))",
            "scrubbed_event_count": "c.event_count",
        },
        f'FROM "{Cluster._meta.db_table}" c WHERE c.project_id = {project.pk}',
    )
    with connection.cursor() as cur:
        cur.execute(cluster_sql, cluster_params)
        cur.execute(item_sql, item_params)
    with connection.cursor() as cur:
        # What a long-lived database looks like: visibility map set, stats fresh. Without
        # this, autovacuum chews through the fresh million rows during the measurements.
        cur.execute("VACUUM ANALYZE")
    print(f"loaded {n:,} clusters + queue items in {time.monotonic() - started:.1f} s")
    return project


def _reviewer(job):
    """One reviewer process: claim, label, repeat; returns claim latencies and item ids."""
    import random

    from django.contrib.auth import get_user_model
    from django.db import connections

    from feedback.models import Project
    from triage import services

    user_id, project_id, claims, think_ms, start_at = job
    user = get_user_model().objects.get(pk=user_id)
    project = Project.objects.get(pk=project_id)
    latencies, seen = [], []
    time.sleep(max(0.0, start_at - time.time()))  # everyone starts together
    for _ in range(claims):
        t0 = time.perf_counter()
        item = services.queue_item_claim_next(project=project, user=user)
        latencies.append((time.perf_counter() - t0) * 1000)
        if item is None:
            break
        seen.append(item.pk)
        if think_ms:
            time.sleep(random.uniform(0, 2 * think_ms) / 1000)
        services.queue_item_label(
            item=item, user=user, version=item.version, decision="known_issue"
        )
    connections.close_all()
    return latencies, seen


def bench_claims(args, project, think_ms):
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.db import connections

    from triage.models import QueueItem

    users = list(
        get_user_model()
        .objects.filter(username__startswith="bench")
        .order_by("pk")
        .values_list("pk", flat=True)
    )[: args.reviewers]
    connections.close_all()  # never share a connection across fork
    start_at = time.time() + 1.5
    jobs = [(u, project.pk, args.claims, think_ms, start_at) for u in users]
    # Processes, not threads: 20 Python threads would measure the GIL, not the queue.
    with multiprocessing.get_context("fork").Pool(len(users)) as pool:
        results = pool.map(_reviewer, jobs)
    wall = time.time() - start_at
    latencies = [ms for lat, _ in results for ms in lat]
    handed_out = [pk for _, seen in results for pk in seen]

    dupes = [pk for pk, n in Counter(handed_out).items() if n > 1]
    # In the database: every item handed out was labelled exactly once (version went 1 → 2).
    in_db = QueueItem.objects.filter(pk__in=handed_out)
    bad_versions = in_db.exclude(version=2).count()
    labelled = in_db.filter(status="labelled").count()
    think = f", think time ~{think_ms} ms" if think_ms else ", no think time (saturated)"
    print(
        f"claim-next, {len(users)} concurrent reviewer processes{think}: {len(latencies)} "
        f"claims in {wall:.1f} s ({len(latencies) / wall:.0f}/s)"
    )
    print(f"  {fmt(latencies)}")
    print(
        f"  double claims: {len(dupes)} in memory, {bad_versions} in the database "
        f"({labelled}/{len(handed_out)} items labelled exactly once)"
    )


def bench_pages(args, project):
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from triage import selectors
    from triage.models import QueueItem

    user = get_user_model().objects.get(username=f"bench{args.reviewers}")
    client = Client()
    client.force_login(user)
    base = f"/p/{project.slug}/queue/"
    # A cursor ~half-way down the queue: page 10 000 of a million costs what page 1 does.
    middle = (
        QueueItem.objects.filter(project=project)
        .order_by("-score", "-pk")
        .values("score", "pk")[args.items // 2]
    )
    deep = f"after={middle['score']!r}_{middle['pk']}"

    def run(label, url, counts_ttl, htmx=False):
        settings.TRIAGE_QUEUE_COUNTS_TTL = counts_ttl
        cache.clear()
        headers = {"HX-Request": "true"} if htmx else {}
        client.get(url, headers=headers)  # warm
        times = []
        for _ in range(args.renders):
            t0 = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.status_code
        rows = response.content.count(b'class="row"')
        print(f"  {label:<44} {fmt(times)}   ({rows} rows)")

    print(f"queue page render, {args.renders} renders each (Django test client, full stack)")
    ttl = settings.TRIAGE_QUEUE_COUNTS_TTL or 5
    run("first page (counts cached)", base, ttl)
    run("first page (counts recomputed every time)", base, 0)
    run("pending only", f"{base}?status=pending", ttl)
    run("deep keyset page (middle of the queue)", f"{base}?{deep}", ttl)
    run("deep keyset page, htmx rows partial", f"{base}?{deep}", ttl, htmx=True)
    run(
        "filtered: category=billing, tier=enterprise",
        f"{base}?category=billing&tier=enterprise",
        ttl,
    )
    run("filtered: P0, pending", f"{base}?severity=p0&status=pending", ttl)
    items, _ = selectors.queue_items(project=project, after=deep.split("=", 1)[1])
    assert items and items[0].score <= middle["score"]


def main():
    args = parse_args()
    reused = setup_database(args)
    from feedback.models import Project

    project = Project.objects.filter(slug="bench").first() if reused else None
    if project is None:
        project = load(args)
    else:
        print(f"reusing {args.db} ({project.queue_items.count():,} items)")
    for think_ms in args.think_ms:
        bench_claims(args, project, think_ms)
    bench_pages(args, project)


if __name__ == "__main__":
    main()
