"""Production-health benchmark on PostgreSQL: rollup, pages, API and alert evaluation.

    .venv/bin/python bench/health.py [--runs 10000000] [--feedback 1000000] [--days 30]
        [--db postgres://postgres@127.0.0.1:5432/triage_bench_health] [--requests 40]

Generates `--runs` runs (traces of four runs: a chain root, a retriever, an LLM call and a
tool call) and `--feedback` feedback events spread over `--days` days, server-side with
generate_series (no Python loop over rows), into its own database (dropped and recreated).
Slices: 6 prompt hashes, 3 models, 3 tiers, 4 locales; errors, max-tokens stops, breaker
trips, judge scores and experiment runs are mixed in at fixed rates. Then it times:

- the rollup of one day (every dimension) and a full rebuild (all days + 24 hours);
- the health page (GET /p/bench/health/?days=30, all traffic and by prompt hash): p50/p95;
- the metrics API (GET /api/v1/metrics?days=30&by=prompt_hash): p50/p95;
- one alert-evaluation cycle for the project.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/triage_bench_health"
RUNS_PER_TRACE = 4


def ensure_database(url):
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)


RUNS_SQL = """
INSERT INTO feedback_run (project_id, run_id, trace_id, parent_run_id, name, run_type,
  inputs, outputs, error, start_time, end_time, tags, metadata, prompt_tokens,
  completion_tokens, total_tokens, total_cost, model, stop_reason, dotted_order, source,
  received_at)
SELECT %(project)s, 't' || g || '-' || k, 't' || g, CASE WHEN k = 0 THEN '' ELSE 't' || g END,
  (ARRAY['agent', 'search', 'llm', 'lookup'])[k + 1],
  (ARRAY['chain', 'retriever', 'llm', 'tool'])[k + 1],
  CASE WHEN k = 0 THEN jsonb_build_object('question', 'question ' || (g %% 997)) ELSE '{}' END,
  CASE WHEN k = 0 AND g %% 101 = 0 THEN NULL ELSE '{"answer": "ok"}'::jsonb END,
  CASE WHEN k = 0 AND g %% 211 = 0 THEN 'CircuitBreakerOpen: circuit breaker open'
       WHEN k = 3 AND g %% 23 = 0 THEN 'ToolError: timeout' ELSE '' END,
  t0 + k * interval '50 milliseconds',
  t0 + CASE WHEN k = 0 THEN (400 + (g * 7919) %% 5000) ELSE (50 + (g * 31) %% 900) END
       * interval '1 millisecond',
  '[]',
  CASE WHEN k = 0 THEN jsonb_build_object(
         'prompt_hash', 'ph-' || (g %% 6),
         'customer_tier', (ARRAY['free', 'pro', 'enterprise'])[g %% 3 + 1],
         'locale', (ARRAY['en', 'de', 'fr', 'es'])[g %% 4 + 1])
         || CASE WHEN g %% 500 = 0 THEN '{"reference_example_id": "ex"}'::jsonb ELSE '{}' END
       WHEN k = 2 AND g %% 5 = 0 THEN jsonb_build_object('judge_score', ((g * 13) %% 100) / 100.0)
       ELSE '{}' END,
  CASE WHEN k = 2 THEN 300 + g %% 500 END, CASE WHEN k = 2 THEN 20 + g %% 300 END,
  CASE WHEN k = 2 THEN 320 + g %% 500 + g %% 300 END,
  CASE WHEN k = 2 THEN 0.0005 + (g %% 10) * 0.0001 END,
  CASE WHEN k = 2 THEN (ARRAY['gpt-4o-mini', 'gpt-4o', 'claude-sonnet'])[g %% 3 + 1] ELSE '' END,
  CASE WHEN k = 2 AND g %% 41 = 0 THEN 'length' ELSE '' END,
  '', 'native', t0
FROM (SELECT g, %(start)s::timestamptz + (g * %(spacing)s) * interval '1 second' AS t0
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g) traces
CROSS JOIN generate_series(0, 3) k
"""

FEEDBACK_SQL = """
INSERT INTO feedback_feedbackevent (project_id, body_hash, trace_id, run_id, session_id,
  message_id, user_hash, rating, category, comment, prompt_hash, model_id, customer_tier,
  locale, source, metadata, created_at, received_at, processed_at)
SELECT %(project)s, md5(g::text), 't' || tr, '', 's' || (tr / 3), '', '',
  CASE WHEN g %% 7 = 0 THEN 'down' ELSE 'up' END, 'wrong', '', 'ph-' || (tr %% 6), '',
  (ARRAY['free', 'pro', 'enterprise'])[tr %% 3 + 1], '', 'explicit', '{}',
  %(start)s::timestamptz + (tr * %(spacing)s + 30) * interval '1 second',
  %(start)s::timestamptz + (tr * %(spacing)s + 30) * interval '1 second',
  %(start)s::timestamptz + (tr * %(spacing)s + 60) * interval '1 second'
FROM (SELECT g, GREATEST(1, FLOOR(g * %(ratio)s))::bigint AS tr
      FROM generate_series(1, %(feedback)s) g) picked
"""


def percentiles(samples):
    ordered = sorted(samples)
    p95 = ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed_requests(client, url, n, **headers):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        samples.append(time.perf_counter() - t0)
        assert response.status_code == 200, (url, response.status_code)
    return percentiles(samples)


def load(connection, project, traces, end, args):
    start = end - timedelta(days=args.days)
    spacing = args.days * 86400 / traces
    t0 = time.perf_counter()
    chunk = 250_000
    with connection.cursor() as cur:
        for lo in range(1, traces + 1, chunk):
            cur.execute(RUNS_SQL, {"project": project.pk, "start": start, "spacing": spacing,
                                   "lo": lo, "hi": min(lo + chunk - 1, traces)})  # fmt: skip
        cur.execute(FEEDBACK_SQL, {"project": project.pk, "start": start, "spacing": spacing,
                                   "feedback": args.feedback,
                                   "ratio": traces / args.feedback})  # fmt: skip
        cur.execute("ANALYZE feedback_run")
        cur.execute("ANALYZE feedback_feedbackevent")
        cur.execute("SELECT COUNT(*) FROM feedback_run")
        n_runs = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM feedback_feedbackevent")
        n_events = cur.fetchone()[0]
    load_s = time.perf_counter() - t0
    print(f"loaded runs={n_runs:,} feedback={n_events:,} traces={traces:,} days={args.days} "
          f"in {load_s:.0f} s", flush=True)  # fmt: skip
    return n_runs, n_events


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--feedback", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database a previous run loaded"
    )
    args = parser.parse_args()

    if not args.reuse:
        ensure_database(args.db)
    os.environ["DATABASE_URL"] = args.db
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "0"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import Membership, Project
    from accounts.services import api_key_create
    from feedback.models import FeedbackEvent, Run
    from triage import alerts, metrics
    from triage.models import Alert, MetricRollup

    call_command("migrate", verbosity=0)
    traces = args.runs // RUNS_PER_TRACE
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if args.reuse:
        project = Project.objects.get(slug="bench")
        latest = Run.objects.filter(project=project).latest("start_time").start_time
        last = latest - timedelta(seconds=1)  # the last trace starts a moment after `end`
        end = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        MetricRollup.objects.all().delete()
        Alert.objects.all().delete()
        get_user_model().objects.filter(username="bench").delete()
        n_runs, n_events = Run.objects.count(), FeedbackEvent.objects.count()
        print(f"reusing runs={n_runs:,} feedback={n_events:,}", flush=True)
    else:
        project = Project.objects.create(slug="bench", name="Bench")
        n_runs, n_events = load(connection, project, traces, end, args)

    yesterday = metrics.bucket_floor(end - timedelta(days=1), "day")
    t0 = time.perf_counter()
    rows = metrics.metrics_rollup(project=project, granularity="day", bucket_start=yesterday)
    day_s = time.perf_counter() - t0
    print(f"rollup one day: {day_s:.2f} s ({rows} rollup rows, {n_runs / args.days:,.0f} runs)",
          flush=True)  # fmt: skip
    t0 = time.perf_counter()
    hour_rows = metrics.metrics_rollup(
        project=project, granularity="hour", bucket_start=end - timedelta(hours=1)
    )
    print(f"rollup one hour: {time.perf_counter() - t0:.2f} s ({hour_rows} rows)", flush=True)
    t0 = time.perf_counter()
    written = metrics.metrics_rebuild(project=project, days=args.days + 1, now=end)
    rebuild_s = time.perf_counter() - t0
    print(f"full rebuild ({args.days + 1} days + 24 hours): {rebuild_s:.1f} s ({written} rows)",
          flush=True)  # fmt: skip

    user = get_user_model().objects.create_user("bench", password="bench-pw")
    Membership.objects.create(project=project, user=user, role="lead")
    browser = Client()
    browser.force_login(user)
    browser.get("/p/bench/health/?days=30")  # warm-up (templates, connections)
    p50, p95 = timed_requests(browser, "/p/bench/health/?days=30", args.requests)
    print(f"health page (all traffic, 30 days): p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)
    p50, p95 = timed_requests(browser, "/p/bench/health/?days=30&by=prompt_hash", args.requests)
    print(f"health page (by prompt hash, 30 days): p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)
    p50, p95 = timed_requests(browser, "/p/bench/overview/", args.requests)
    print(f"overview page: p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)

    _, key = api_key_create(project=project, scopes=["datasets:read"])
    api = Client(headers={"Authorization": f"Bearer {key}"})
    p50, p95 = timed_requests(api, "/api/v1/metrics?days=30&by=prompt_hash", args.requests)
    print(f"metrics API (30 days by prompt hash): p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)
    p50, p95 = timed_requests(api, "/api/v1/versions-in-production", args.requests)
    print(f"versions-in-production API: p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)

    cycles = []
    for i in range(5):
        t0 = time.perf_counter()
        result = alerts.alerts_evaluate(project=project, now=end - timedelta(minutes=i))
        cycles.append(time.perf_counter() - t0)
    print(f"alert evaluation per cycle: median {statistics.median(cycles):.2f} s, "
          f"max {max(cycles):.2f} s (last: {result})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
