"""Benchmark the annotation queue on PostgreSQL at scale (a script, not a test).

    .venv/bin/python bench/queue_claims.py                      # 1 M items, 20 reviewers
    .venv/bin/python bench/queue_claims.py --items 200000 --reviewers 20 --claims 50

It creates (or with --reuse keeps) its own database, bulk-loads clusters and queue items with
`generate_series` in SQL, then measures:

* claim-next latency (p50/p95) with N reviewer processes claiming at once, each on its own
  connection; every claim is followed by a label so the next claim moves on. Double claims
  are checked twice: in memory (no item handed out twice) and in the database afterwards.
  Beside the client's wall-clock latency it prints where that time goes:
  - the server's own time for one claim with nothing else running (EXPLAIN ANALYZE of the
    exact statements claim-next sends, rolled back);
  - under load, server time per claim from sampling pg_stat_activity every few ms
    (Little's law: mean claim statements in flight × wall time / claims), split into
    running and waiting on a lock;
  - CPU seconds per claim+label cycle in the reviewer processes and in their PostgreSQL
    backends, and how busy the machine's cores were (other work on the machine included).
* queue page render (p50/p95) through Django's full request path (middleware, session,
  template): the first page, a deep keyset page, filtered pages (including model and
  prompt hash, which live on the feedback events), with and without the status-count cache.
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
    p.add_argument("--no-pages", action="store_true", help="measure claims only")
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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
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

    from accounts.models import Membership, Project
    from feedback.models import FeedbackEvent
    from triage.facets import cluster_facets_refresh_since
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
    # One feedback event per cluster, a second one (another model) on every fifth: the queue's
    # model and prompt-hash filters look at these. Models are skewed (one takes 70 %, one
    # 0.1 %), prompt hashes spread evenly over 40 values (2.5 % each).
    model = (
        "CASE WHEN {g} %% 1000 = 3 THEN 'rare-model' WHEN {g} %% 1000 < 50 THEN 'claude-3-5' "
        "WHEN {g} %% 1000 < 300 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END"
    )
    event_sql, event_params = _insert_select(
        FeedbackEvent,
        {
            "project": str(project.pk),
            "cluster": "c.id",
            "body_hash": "md5(c.id::text || '-' || s)",
            "trace_id": "'t' || c.id",
            "rating": "'down'",
            "category": "c.category",
            "comment": "'Complaint ' || c.id || ': the bot answered wrongly'",
            "prompt_hash": "'ph-' || c.id %% 40",
            "model_id": model.format(g="(c.id + s * 7)"),
            "customer_tier": "c.top_tier",
            "created_at": "c.first_seen_at",
            "received_at": "c.first_seen_at",
            "processed_at": "now()",
        },
        f'FROM "{Cluster._meta.db_table}" c, generate_series(0, 1) s '
        f"WHERE c.project_id = {project.pk} AND (s = 0 OR c.id %% 5 = 0)",
    )
    with connection.cursor() as cur:
        cur.execute(cluster_sql, cluster_params)
        cur.execute(item_sql, item_params)
        cur.execute(event_sql, event_params)
    print(f"loaded {n:,} clusters + queue items + feedback in {time.monotonic() - started:.1f} s")
    # What the triage job's stats phase does after clustering: the facets the queue filters on.
    started = time.monotonic()
    cluster_facets_refresh_since(project.pk, 0)
    print(f"cluster facets (model, prompt hash) built in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cur:
        # What a long-lived database looks like: visibility map set, stats fresh. Without
        # this, autovacuum chews through the fresh million rows during the measurements.
        cur.execute("VACUUM ANALYZE")
    print(f"VACUUM ANALYZE in {time.monotonic() - started:.1f} s")
    return project


def _cpu_ticks(pid):
    """utime + stime of a process in seconds (None when it is not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu():
    """(busy, total) jiffies of all cores from /proc/stat: every process, not only ours."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _reviewer(job):
    """One reviewer process: claim, label, repeat; returns its measurements."""
    import random

    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    from accounts.models import Project
    from triage import services

    user_id, project_id, claims, think_ms, start_at = job
    user = get_user_model().objects.get(pk=user_id)
    project = Project.objects.get(pk=project_id)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    latencies, claim_cpu, seen = [], [], []
    time.sleep(max(0.0, start_at - time.time()))  # everyone starts together
    cpu0, server0 = time.process_time(), _cpu_ticks(backend)
    for _ in range(claims):
        c0, t0 = time.process_time(), time.perf_counter()
        item = services.queue_item_claim_next(project=project, user=user)
        latencies.append((time.perf_counter() - t0) * 1000)
        claim_cpu.append((time.process_time() - c0) * 1000)
        if item is None:
            break
        seen.append(item.pk)
        if think_ms:
            time.sleep(random.uniform(0, 2 * think_ms) / 1000)
        services.queue_item_label(
            item=item, user=user, version=item.version, decision="known_issue"
        )
    server1 = _cpu_ticks(backend)
    server_cpu = server1 - server0 if server0 is not None and server1 is not None else None
    client_cpu = time.process_time() - cpu0
    connections.close_all()
    return {
        "latencies": latencies,
        "claim_cpu": claim_cpu,
        "seen": seen,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
    }


def _query_kind(query):
    """Which service a statement seen in pg_stat_activity belongs to (claim-next or label).

    Label sends `UPDATE … SET "decision"` and then re-reads the row by id; claim-next sends
    everything else the reviewers run on the queue table (lease check, the claim itself).
    """
    if 'SET "decision"' in query or ('"id" = ' in query and "LIMIT 21" in query):
        return "label"
    if "triage_queueitem" in query:
        return "claim"
    return "other"


def _sample_activity(dbname, base_url, start_at, stop, out, interval=0.005):
    """Poll pg_stat_activity from `start_at` until `stop` is set; counts (state, kind, wait)."""
    import psycopg

    counts, samples = Counter(), 0
    with psycopg.connect(base_url, autocommit=True) as conn:
        time.sleep(max(0.0, start_at - time.time()))
        while not stop.is_set():
            rows = conn.execute(
                "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'",
                [dbname],
            ).fetchall()
            samples += 1
            for state, wait_type, wait, query in rows:
                if state == "active":
                    wait = f"{wait_type}:{wait}" if wait_type else "running"
                    counts["active", _query_kind(query), wait] += 1
                else:
                    counts[state or "?", "", ""] += 1
            time.sleep(interval)
    out.put((samples, dict(counts)))


def claim_server_time_unloaded(project, user):
    """Planning + execution time of the statements one claim-next sends, nothing else running.

    The statements are captured from the real service call (in a transaction rolled back),
    then each is run under EXPLAIN ANALYZE (also rolled back). Returns (ms, statements).
    """
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from triage import services

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            services.queue_item_claim_next(project=project, user=user)
            raise Rollback
    except Rollback:
        pass
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN"))
    ]
    runs = []
    for _ in range(5):
        total = 0.0
        for sql in statements:
            try:
                with transaction.atomic(), connection.cursor() as cur:
                    cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                    plan = cur.fetchone()[0][0]
                    total += plan["Planning Time"] + plan["Execution Time"]
                    raise Rollback
            except Rollback:
                pass
        runs.append(total)
    return sorted(runs)[len(runs) // 2], len(statements)


def bench_claims(args, project, think_ms):
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    from triage.models import QueueItem

    users = list(
        get_user_model()
        .objects.filter(username__startswith="bench")
        .order_by("pk")
        .values_list("pk", flat=True)
    )[: args.reviewers]
    spare = get_user_model().objects.get(username=f"bench{args.reviewers}")
    unloaded_ms, n_statements = claim_server_time_unloaded(project, spare)
    dbname = connection.settings_dict["NAME"]
    connections.close_all()  # never share a connection across fork
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    start_at = time.time() + 1.5
    sampler = ctx.Process(
        target=_sample_activity, args=(dbname, args.base_url, start_at, stop, out)
    )
    sampler.start()
    jobs = [(u, project.pk, args.claims, think_ms, start_at) for u in users]
    load_before = os.getloadavg()
    # Processes, not threads: 20 Python threads would measure the GIL, not the queue.
    with ctx.Pool(len(users)) as pool:
        time.sleep(max(0.0, start_at - time.time()))
        cpu0 = _machine_cpu()
        results = pool.map(_reviewer, jobs)
        cpu1 = _machine_cpu()
    wall = time.time() - start_at
    stop.set()
    samples, activity = out.get()
    sampler.join()
    latencies = [ms for r in results for ms in r["latencies"]]
    claim_cpu = [ms for r in results for ms in r["claim_cpu"]]
    handed_out = [pk for r in results for pk in r["seen"]]

    dupes = [pk for pk, n in Counter(handed_out).items() if n > 1]
    # In the database: every item handed out was labelled exactly once (version went 1 → 2).
    in_db = QueueItem.objects.filter(pk__in=handed_out)
    bad_versions = in_db.exclude(version=2).count()
    labelled = in_db.filter(status="labelled").count()
    think = f", think time ~{think_ms} ms" if think_ms else ", no think time (saturated)"
    n = len(latencies)
    print(
        f"claim-next, {len(users)} concurrent reviewer processes{think}: {n} "
        f"claims in {wall:.1f} s ({n / wall:.0f}/s)"
    )
    print(f"  client wall time per claim      {fmt(latencies)}")
    print(f"  client CPU inside claim-next    {fmt(claim_cpu)}")
    print(
        f"  server time per claim, unloaded  {unloaded_ms:.2f} ms "
        f"({n_statements} statement(s), EXPLAIN ANALYZE, median of 5)"
    )
    # Little's law: mean number of claim statements in flight × wall time / claims.
    in_flight = {
        wait: c / samples for (state, kind, wait), c in activity.items() if kind == "claim"
    }
    server_claim_ms = sum(in_flight.values()) * wall * 1000 / max(n, 1)
    locked = sum(v for w, v in in_flight.items() if w.startswith("Lock:")) * wall * 1000 / max(n, 1)
    print(
        f"  server time per claim, loaded    ~{server_claim_ms:.2f} ms "
        f"(of which waiting on row locks ~{locked:.2f} ms; "
        f"sampled pg_stat_activity {samples}× every 5 ms)"
    )
    waits = Counter()
    for (state, kind, wait), c in activity.items():
        waits[f"{state} {kind} {wait}".strip()] += c / samples
    print(
        "  backends by state (mean count): "
        + ", ".join(f"{k} {v:.2f}" for k, v in waits.most_common())
    )
    client_cpu = sum(r["client_cpu"] for r in results)
    server_cpu = [r["server_cpu"] for r in results]
    busy = (cpu1[0] - cpu0[0]) / max(cpu1[1] - cpu0[1], 1)
    cycles = max(len(handed_out), 1)
    server_txt = (
        f"{sum(server_cpu) * 1000 / cycles:.2f} ms in their PostgreSQL backends"
        if None not in server_cpu
        else "backend CPU not readable (PostgreSQL is not on this machine)"
    )
    print(
        f"  CPU per claim+label cycle: {client_cpu * 1000 / cycles:.2f} ms in the reviewer "
        f"processes, {server_txt}"
    )
    print(
        f"  machine: {os.cpu_count()} cores {busy:.0%} busy during the run (all processes); "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
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
    run("filtered: model=gpt-4o (~30 % of items)", f"{base}?model=gpt-4o", ttl)
    run("filtered: model=rare-model (~0.1 %)", f"{base}?model=rare-model", ttl)
    run("filtered: prompt_hash=ph-7 (2.5 %)", f"{base}?prompt_hash=ph-7", ttl)
    run(
        "filtered: ph-3 + rare-model, pending",
        f"{base}?prompt_hash=ph-3&status=pending&model=rare-model",
        ttl,
    )
    # A third of the bench's clusters are P0 and most are pending: the open-P0 list is huge.
    run("time-to-eval page (open P0 clock)", f"/p/{project.slug}/time-to-eval/", ttl)
    settings.TRIAGE_QUEUE_COUNTS_TTL = 0
    times = []
    for _ in range(max(args.renders // 10, 5)):
        t0 = time.perf_counter()
        counts = selectors.queue_status_counts(project=project)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"  {'status counts alone, uncached':<44} {fmt(times)}   {counts}")
    items, _ = selectors.queue_items(project=project, after=deep.split("=", 1)[1])
    assert items and items[0].score <= middle["score"]


def main():
    args = parse_args()
    reused = setup_database(args)
    from accounts.models import Project

    project = Project.objects.filter(slug="bench").first() if reused else None
    if project is None:
        project = load(args)
    else:
        print(f"reusing {args.db} ({project.queue_items.count():,} items)")
    for think_ms in args.think_ms:
        bench_claims(args, project, think_ms)
    if not args.no_pages:
        bench_pages(args, project)


if __name__ == "__main__":
    main()
