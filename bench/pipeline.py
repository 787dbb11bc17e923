"""Ingest and processing together, the production way: does processing keep up?

    .venv/bin/python bench/pipeline.py [--rate 1000] [--batch 20] [--clients 8]
        [--workers 1|2] [--backlog-seconds 20] [--steady-seconds 30] [--trace]

Starts the web server (config/web.py) and `celery worker --pool=solo` processes itself on
its own database (BENCH_DATABASE_URL, default …/triage_bench_pipeline, dropped and
recreated) and Redis db 13 (BENCH_REDIS_URL). Keep-alive clients post varied complaints
(bench/triage_job.py's generator: Zipf-sized issues, paraphrases, numbers, emails) at a
fixed rate in small batches for the whole run. For each worker count (1, then 2 with --workers 2):

1. no worker runs for --backlog-seconds: a backlog builds up at the ingest rate;
2. the workers start: the processing rate is the events processed per second from the
   moment they are ready until the backlog is drained (under one second of ingest plus the
   batches in flight, or --drain-timeout), while ingest continues — the workers'
   capacity, not just the ingest rate they keep up with;
3. --steady-seconds more with ingest and workers together: backlog max and oldest age;
4. the workers stop (their queued tasks stay in Redis for the next phase).

At the end ingest stops, one worker drains everything, and the run checks that every event
was processed, that no event was processed twice (the events the tasks report sum to the
event count) and that every cluster's event_count equals its events.

While draining, the CPU is split between processing (workers and their database backends),
ingest (the web server and its backends) and the rest (bench/pipeline_stats.py): from one worker's
share and what the rest leaves, the most a second worker can add if processing is CPU-bound.
--trace also has the workers time each batch's phases (TRIAGE_PROCESS_TRACE) and prints the
mean per phase for 1 and 2 workers: claim, key + sketch, the wait for the planning lock, plan,
its writes and commit, the events UPDATE, the counts, the batch's commit.
"""

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import database_recreate, feedback_post, free_port, run  # noqa: E402
from bench.pipeline_stats import (  # noqa: E402
    APP_WEB,
    APP_WORKER,
    CpuMeter,
    cpu_ceiling,
    cpu_shares,
    phase_summary,
)
from bench.triage_job import generate  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/triage_bench_pipeline"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TIERS = {"free", "pro", "enterprise"}
BATCH_IN_FLIGHT = int(os.environ.get("TRIAGE_PROCESS_BATCH", 2000))


def service_env():
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "TRIAGE_RATE_LIMIT": "1000000/s",  # measure the pipeline, not the limiter's refusals
    }


# --- the load generator (bench/load.py uses it too) ---------------------------------------


def event_bodies(n, batch, seed=11):
    """n varied events as JSON request bodies of `batch` events each."""
    events = []
    for k, (group, category, comment, tier, _created, _question) in enumerate(generate(n, seed)):
        events.append(
            {
                "id": f"ev-{uuid.uuid4().hex}",
                "trace_id": f"trace-{k}",
                "user_id": f"user-{k % 997}@example.com",
                "rating": "down",
                "category": category,
                "comment": comment,
                "model_id": random.choice(["gpt-4o-mini", "gpt-4o", "claude-3-5"]),
                "customer_tier": tier if tier in TIERS else "free",
                "metadata": {"group": group},
            }
        )
    return [json.dumps({"events": events[i : i + batch]}).encode() for i in range(0, n, batch)]


class Load:
    """Open-loop ingest: `clients` keep-alive connections post batches on a fixed schedule
    (rate events/s in all); a late request is sent at once and its lateness recorded."""

    def __init__(self, port, key, *, rate, batch, clients, bodies):
        self.port, self.key = port, key
        self.rate, self.batch, self.clients = rate, batch, clients
        self.bodies = bodies
        self.latencies, self.errors, self.sent_events = [], [], 0
        self.max_lag = 0.0
        self._stop = threading.Event()
        self._thread = None
        self.started = self.stopped = None

    def start(self):
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.started = time.monotonic()
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.stopped = time.monotonic()

    def rate_achieved(self):
        return self.sent_events / ((self.stopped or time.monotonic()) - self.started)

    async def _main(self):
        interval = self.clients * self.batch / self.rate  # seconds between one client's posts
        await asyncio.gather(
            *(self._client(n, interval * n / self.clients, interval) for n in range(self.clients))
        )

    async def _client(self, n, offset, interval):
        reader = writer = None
        due = time.monotonic() + offset
        k = n
        while not self._stop.is_set():
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.max_lag = max(self.max_lag, -delay)
            due += interval
            body = self.bodies[k % len(self.bodies)]
            k += self.clients
            # Fresh client ids: a body sent again is new events, not a retry.
            body = body.replace(b'"ev-', f'"e{k:x}-'.encode())
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                status, payload, close = await feedback_post(
                    reader, writer, self.port, self.key, body
                )
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as exc:
                self.errors.append(repr(exc))
                writer = None
                continue
            self.latencies.append(time.perf_counter() - started)
            if status >= 300:
                self.errors.append(f"{status} {payload[:200]!r}")
            else:
                self.sent_events += self.batch
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()


def percentile(values, q):
    values = sorted(values)
    return values[min(int(len(values) * q), len(values) - 1)] if values else float("nan")


# --- the services --------------------------------------------------------------------------


class Services:
    """The database, the web server and celery workers of one bench run."""

    def __init__(self, *, web_workers, log_dir):
        self.web_workers, self.log_dir = web_workers, Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = service_env()
        self.server = None
        self.workers = []
        self.worker_logs = []
        self.port = free_port()

    def setup(self):
        import redis

        database_recreate_at(DB_URL)
        redis.Redis.from_url(REDIS_URL).flushdb()
        python = sys.executable
        run([python, "manage.py", "migrate", "-v", "0"], env=self.env)
        out = run(
            [python, "manage.py", "shell", "-c",
             "from accounts.services import project_get_or_create, api_key_create;"
             "p = project_get_or_create(slug='bench');"
             "print(p.pk, api_key_create(project=p, scopes=['ingest'])[1])"],
            env=self.env, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        self.project_id, self.key = int(out[-2]), out[-1]
        from bench.ingest import server_command

        log = open(self.log_dir / "web.log", "w")
        self.server = subprocess.Popen(
            server_command(python, "config.wsgi:application", self.port, self.web_workers),
            cwd=ROOT, env={**self.env, "PGAPPNAME": APP_WEB},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        import http.client

        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise
                time.sleep(0.3)

    def start_workers(self, n):
        logs = []
        for _ in range(n):
            log_path = self.log_dir / f"worker-{len(self.worker_logs)}.log"
            self.worker_logs.append(log_path)
            logs.append(log_path)
            self.workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "--pool=solo",
                        "--loglevel=INFO",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "-n",
                        f"bench{len(self.worker_logs)}@%h",
                    ],
                    cwd=ROOT,
                    env={**self.env, "PGAPPNAME": APP_WORKER},
                    stdout=open(log_path, "w"),
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        # Their logs, not a ping: a solo worker busy with a long task answers no ping.
        deadline = time.monotonic() + 300  # a loaded 2-core machine starts them slowly
        while not all(" ready." in path.read_text(errors="replace") for path in logs):
            if time.monotonic() > deadline:
                raise RuntimeError("celery workers did not start")
            time.sleep(0.2)

    def stop_workers(self):
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            proc.wait(timeout=60)
        self.workers = []

    def close(self):
        self.stop_workers()
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)

    def pids(self):
        """The web server's main process and workers, then the celery workers."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.server.pid)], capture_output=True, text=True
        ).stdout.split()
        return [self.server.pid, *map(int, out)], [p.pid for p in self.workers]

    def tasks_reported_events(self):
        """Events processed, summed over every process_feedback task's reported result."""
        total = 0
        pattern = re.compile(r"process_feedback\[[^\]]+\] succeeded in [\d.e-]+s: (.*)$")
        for log_path in self.worker_logs:
            for line in log_path.read_text(errors="replace").splitlines():
                if m := pattern.search(line):
                    try:
                        total += int(json.loads(m.group(1).replace("'", '"'))["events"])
                    except (ValueError, KeyError, TypeError):
                        return None  # the task does not report events (the old code)
        return total


def database_recreate_at(url):
    import bench.ingest as ingest

    ingest.DB_URL = url
    database_recreate()


def rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Backlog:
    """Samples the unprocessed count and the oldest unprocessed age every half second (on
    the partial index of unprocessed rows: cheap). Counting the processed rows reads the
    whole table (a tenth of a core at a few samples a second, taken from the services
    measured), so that count is taken only where a rate starts or ends."""

    def __init__(self):
        import psycopg

        self.conn = psycopg.connect(DB_URL, autocommit=True)
        self.samples = []  # (monotonic, backlog, oldest age s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def measure(self):
        row = self.conn.execute(
            """SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)
               FROM feedback_feedbackevent WHERE processed_at IS NULL"""
        ).fetchone()
        return time.monotonic(), row[0], float(row[1])

    def processed(self):
        """(monotonic time of the count's snapshot, events processed so far)."""
        t = time.monotonic()
        return t, self.conn.execute(
            "SELECT count(*) FROM feedback_feedbackevent WHERE processed_at IS NOT NULL"
        ).fetchone()[0]

    def _loop(self):
        while not self._stop.wait(0.5):
            self.samples.append(self.measure())

    def since(self, t0):
        return [s for s in self.samples if s[0] >= t0]

    def close(self):
        self._stop.set()
        self._thread.join()
        self.conn.close()


def phase(
    services, backlog, meter, workers, *, rate, backlog_seconds, steady_seconds, drain_timeout
):
    """Build a backlog, start `workers`, measure the drain and the steady state."""
    time.sleep(backlog_seconds)
    _, start_backlog, start_age = backlog.measure()
    _, processed0 = backlog.processed()
    services.start_workers(workers)
    t_start = time.monotonic()
    wall_start = time.time()
    cpu_start = meter.snapshot()
    drained = None
    while time.monotonic() - t_start < drain_timeout:
        _, size, _ = backlog.measure()
        # Drained: what is left is under a second of ingest plus the batches in flight
        # (claimed rows stay unprocessed until their batch commits).
        if size <= rate + workers * BATCH_IN_FLIGHT:
            t, processed = backlog.processed()
            if processed > processed0:
                drained = (t, processed)
                break
        time.sleep(0.25)
    end = drained or backlog.processed()
    # How busy all cores were while draining, and who used them.
    shares, cpu_busy = cpu_shares(cpu_start, meter.snapshot())
    drain_seconds = end[0] - t_start
    drain_rate = (end[1] - processed0) / drain_seconds
    window = (wall_start, wall_start + drain_seconds)
    steady0 = backlog.processed()
    time.sleep(steady_seconds)
    steady1 = backlog.processed()
    steady = backlog.since(steady0[0])
    services.stop_workers()
    return {
        "workers": workers,
        "backlog_at_start": start_backlog,
        "oldest_age_at_start": start_age,
        "drained": drained is not None,
        "drain_seconds": drain_seconds,
        "processing_rate": drain_rate,
        "cpu_busy_while_draining": cpu_busy,
        "cores_used_while_draining": {g: round(v, 2) for g, v in shares.items()},
        "drain_window": window,
        "steady_backlog_max": max((s[1] for s in steady), default=0),
        "steady_age_max": max((s[2] for s in steady), default=0.0),
        "steady_processed_rate": (steady1[1] - steady0[1]) / (steady1[0] - steady0[0]),
    }


def integrity(services, timeout):
    """Drain with one worker, then: all processed, none twice, cluster counts exact."""
    import psycopg

    services.start_workers(1)
    deadline = time.monotonic() + timeout
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM feedback_feedbackevent WHERE processed_at IS NULL"
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(2)  # tasks still running report their results
        services.stop_workers()
        events, unprocessed, clustered = conn.execute(
            """SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL),
                      count(cluster_id) FROM feedback_feedbackevent"""
        ).fetchone()
        clusters, cluster_sum, wrong = conn.execute(
            """SELECT count(*), coalesce(sum(c.event_count), 0),
                      count(*) FILTER (WHERE c.event_count <> coalesce(e.n, 0))
               FROM triage_cluster c LEFT JOIN (
                   SELECT cluster_id, count(*) AS n FROM feedback_feedbackevent
                   GROUP BY cluster_id) e ON e.cluster_id = c.id"""
        ).fetchone()
    return {
        "events": events,
        "unprocessed": unprocessed,
        "clustered": clustered,
        "clusters": clusters,
        "cluster_count_sum": cluster_sum,
        "clusters_with_wrong_count": wrong,
        "tasks_reported_events": services.tasks_reported_events(),
    }


def load_average():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000, help="ingest events/s")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2))
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--backlog-seconds", type=float, default=20)
    parser.add_argument("--steady-seconds", type=float, default=30)
    parser.add_argument("--drain-timeout", type=float, default=60)
    parser.add_argument("--log-dir", default="/tmp/bench-pipeline")
    parser.add_argument("--trace", action="store_true", help="time each batch's phases")
    args = parser.parse_args()

    trace = Path(args.log_dir) / "phases.jsonl"
    if args.trace:
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.unlink(missing_ok=True)
        os.environ["TRIAGE_PROCESS_TRACE"] = str(trace)
    os.environ.update(service_env())  # config.celery (worker pings) reads them
    print(f"{load_average()} (2 cores, shared: other work skews figures)", flush=True)
    print(
        f"ingest {args.rate} events/s in batches of {args.batch} from {args.clients} keep-alive "
        f"clients · web {args.web_workers} workers · celery --pool=solo workers",
        flush=True,
    )
    bodies = event_bodies(60000, args.batch)
    services = Services(web_workers=args.web_workers, log_dir=args.log_dir)
    services.setup()
    backlog = Backlog()
    if backlog.conn.execute("SHOW autovacuum").fetchone()[0] != "on":
        print(  # as on this machine's CI PostgreSQL
            "PostgreSQL autovacuum is off: processed events' dead rows pile up during the run, "
            "so claims and updates slow down with long backlogs (PostgreSQL's default is on)",
            flush=True,
        )
    web = services.pids()[0]  # the web workers live as long as the run (no max-requests)
    meter = CpuMeter(
        DB_URL,
        {
            "processing": (lambda: [p.pid for p in services.workers], APP_WORKER),
            "ingest": (lambda: web, APP_WEB),
        },
    )
    load = Load(
        services.port, services.key, rate=args.rate, batch=args.batch, clients=args.clients,
        bodies=bodies,
    )  # fmt: skip
    results = []
    try:
        load.start()
        for workers in range(1, args.workers + 1):
            result = phase(
                services, backlog, meter, workers, rate=args.rate,
                backlog_seconds=args.backlog_seconds, steady_seconds=args.steady_seconds,
                drain_timeout=args.drain_timeout,
            )  # fmt: skip
            result["load"] = load_average()
            results.append(result)
            print(json.dumps(result), flush=True)
        load.stop()
        check = integrity(services, args.drain_timeout * 3)
    finally:
        if load.stopped is None:
            load.stop()
        backlog.close()
        meter.close()
        services.close()

    lat = [x * 1000 for x in load.latencies]
    print(
        f"ingest: {load.rate_achieved():,.0f} events/s achieved (target {args.rate}) · "
        f"p50 {percentile(lat, 0.5):.1f} ms · p99 {percentile(lat, 0.99):.1f} ms · "
        f"errors {len(load.errors)} · max schedule lag {load.max_lag * 1000:.0f} ms"
    )
    for r in results:
        drained = (
            f"drained {r['backlog_at_start']:,} in {r['drain_seconds']:.1f} s"
            if r["drained"]
            else f"NOT drained within {args.drain_timeout:.0f} s"
        )
        print(
            f"{r['workers']} worker(s): processing {r['processing_rate']:,.0f} events/s while "
            f"ingesting ({drained}; all {os.cpu_count()} cores "
            f"{r['cpu_busy_while_draining']:.0%} busy meanwhile: cores used by processing "
            f"{r['cores_used_while_draining']['processing']:.2f}, ingest "
            f"{r['cores_used_while_draining']['ingest']:.2f}, the rest "
            f"{r['cores_used_while_draining']['other']:.2f}) · steady: backlog max "
            f"{r['steady_backlog_max']:,}, "
            f"oldest max {r['steady_age_max']:.1f} s, processed "
            f"{r['steady_processed_rate']:,.0f} events/s · {r['load']}"
        )
    shares = results[0]["cores_used_while_draining"]
    print(
        f"CPU ceiling: with 1 worker the machine was {results[0]['cpu_busy_while_draining']:.0%} "
        f"busy: processing used {shares['processing']:.2f} cores, ingest "
        f"{shares['ingest']:.2f}, the rest {shares['other']:.2f}; so on {os.cpu_count()} "
        f"cores a second worker can give at most ~{cpu_ceiling(shares):.2f}× "
        "if processing is CPU-bound"
    )
    if args.trace:
        windows = {r["workers"]: r["drain_window"] for r in results}
        for workers, summary in phase_summary(trace, windows).items():
            print(f"phases, {workers} worker(s): {json.dumps(summary)}")
    if len(results) == 2 and results[0]["processing_rate"]:
        print(
            f"scale-out: 2 workers / 1 worker = "
            f"{results[1]['processing_rate'] / results[0]['processing_rate']:.2f}×"
        )
    twice = check["tasks_reported_events"]
    print(
        f"integrity: {check['events']:,} events, {check['unprocessed']} unprocessed, "
        f"{check['clusters']:,} clusters, sum of event_count {check['cluster_count_sum']:,} "
        f"vs {check['clustered']:,} clustered events, "
        f"{check['clusters_with_wrong_count']} clusters with a wrong count, "
        + (
            f"tasks reported {twice:,} events processed"
            + (" (none twice)" if twice == check["events"] else " (MISMATCH)")
            if twice is not None
            else "tasks do not report events processed"
        )
    )
    if load.errors:
        print("first errors:", load.errors[:3])
    print(load_average())
    print("target: >= 2,000 events/s with 1 worker while ingesting 1,000/s; 2 workers >= 1.7×")
    return results, check, load


if __name__ == "__main__":
    main()
