"""Ingest benchmark: the service the production way (config/web.py on PostgreSQL + Redis).

Measures in one run: single-event posts (sequential, and 16 concurrent clients), batches of
100 and 1000 events, and the raw multi-row INSERT rate of the same table via psycopg (the
ceiling). Prints every figure and the ratio batched / raw.

    .venv/bin/python bench/ingest.py [--workers 4] [--seq 400] [--concurrent-posts 1600]
    .venv/bin/python bench/ingest.py --profile [--seq 2000]   # where a single post's time goes
    .venv/bin/python bench/ingest.py --embedded [--seq 400]   # SQLite, no Redis, runserver

Uses its own database (BENCH_DATABASE_URL, default …/triage_bench_ingest, dropped and
recreated) and Redis db 14 (BENCH_REDIS_URL). No celery worker runs: ingest only publishes
the processing tasks; they are flushed from Redis at the end.
"""

import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/triage_bench_ingest"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

INSERT_COLUMNS = (
    "project_id", "client_id", "body_hash", "trace_id", "run_id", "session_id", "message_id",
    "user_hash", "rating", "score", "category", "comment", "prompt_hash", "model_id",
    "customer_tier", "locale", "source", "metadata", "created_at", "received_at",
)  # fmt: skip


def event(i):
    return {
        "id": f"ev-{uuid.uuid4().hex}",
        "trace_id": f"trace-{i}",
        "run_id": f"run-{i}",
        "user_id": f"user-{i % 500}@example.com",
        "rating": "down",
        "category": "billing",
        "comment": "I was charged twice for the same order and the bot told me to wait.",
        "model_id": "gpt-4o-mini",
        "customer_tier": "pro",
        "locale": "en-US",
        "metadata": {"app_version": "2.4.1"},
    }


def run(cmd, env=None, **kwargs):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, **kwargs)


def database_recreate():
    import psycopg

    parsed = urlparse(DB_URL)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Poster:
    """A lean HTTP client (http.client): little client-side overhead in the timings."""

    def __init__(self, port, key):
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = None

    def post(self, path, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", path, body=data, headers=self.headers)
                response = self.conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if response.status >= 300:
            raise RuntimeError(f"{path}: {response.status} {payload[:300]!r}")
        return payload


def bench_project(python, env):
    """(project id, an ingest API key) in the freshly migrated bench database."""
    out = run(
        [python, "manage.py", "shell", "-c",
         "from accounts.services import project_get_or_create, api_key_create;"
         "p = project_get_or_create(slug='bench');"
         "print(p.pk, api_key_create(project=p, scopes=['ingest'])[1])"],
        env=env, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return int(out[-2]), out[-1]


def server_wait(server, port, key, timeout=60):
    """Until the server answers a post (it loads the app, then the PII models lazily)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            Poster(port, key).post("/api/v1/feedback", event(0))
            return
        except (OSError, RuntimeError):
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.3)


def bench_sequential(port, key, n):
    poster = Poster(port, key)
    for i in range(20):  # warm up every worker's caches
        poster.post("/api/v1/feedback", event(i))
    bodies = [json.dumps(event(i)).encode() for i in range(n)]  # built before timing
    times = []
    for body in bodies:
        started = time.perf_counter()
        poster.post("/api/v1/feedback", body)
        times.append(time.perf_counter() - started)
    return times


async def feedback_post(reader, writer, port, key, body):
    """POST one body over an open keep-alive connection → (status, payload, server closes)."""
    writer.write(
        (
            f"POST /api/v1/feedback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    return status, await reader.readexactly(length), close


async def _async_client(port, key, bodies, latencies):
    """One keep-alive HTTP/1.1 connection posting `bodies` in turn (asyncio: 16 clients in
    one thread, so the benchmark's own GIL contention does not throttle the server)."""
    import asyncio

    reader = writer = None
    for body in bodies:
        started = time.perf_counter()
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status, payload, close = await feedback_post(reader, writer, port, key, body)
        latencies.append(time.perf_counter() - started)
        if status >= 300:
            raise RuntimeError(f"{status} {payload[:300]!r}")
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def bench_concurrent(port, key, clients, total):
    import asyncio

    per_client = total // clients
    bodies = [json.dumps(event(i)).encode() for i in range(per_client * clients)]
    latencies = []

    async def all_clients():
        await asyncio.gather(
            *(
                _async_client(port, key, bodies[n * per_client : (n + 1) * per_client], latencies)
                for n in range(clients)
            )
        )

    started = time.perf_counter()
    asyncio.run(all_clients())
    return len(latencies) / (time.perf_counter() - started), latencies


def bench_batches(port, key, size, batches, clients=2):
    bodies = [
        json.dumps({"events": [event(i) for i in range(size)]}).encode() for _ in range(batches)
    ]
    next_index = iter(range(batches))
    lock = threading.Lock()

    def client():
        poster = Poster(port, key)
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            results = json.loads(poster.post("/api/v1/feedback", bodies[index]))["results"]
            assert all(r["status"] == "created" for r in results), results[:3]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return size * batches / (time.perf_counter() - started)


def server_command(python, app, port, workers):
    """The production web server (config/web.py) serving `app` on 127.0.0.1:`port`, logging
    warnings only."""
    code = (
        "from config.web import server; "
        f"server({app!r}, port={port}, workers={workers}, host='127.0.0.1', "
        "log_level='warning').serve()"
    )
    return [python, "-c", code]


def _wsgi_post(application, key, body):
    """One POST /api/v1/feedback straight into the WSGI app (no socket, no web server)."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/feedback", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {key}",
    }  # fmt: skip
    status = []
    b"".join(application(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("201"):
        raise RuntimeError(status[0])


def profile_stages(env, key, n):
    """Time each stage of a single post in-process: the wrapped functions below are the
    stages; what is left of a request's time is the ingest lane's own (feedback/ingest_lane.py:
    the request object, its checks, connection upkeep, rendering). Returns {stage: (wall ms,
    cpu ms)} per post."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from accounts import auth
    from config.wsgi import application
    from feedback import ingest_lane, serializers, services

    totals = {}

    def timed(stage, func):
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                spent = totals.setdefault(stage, [0.0, 0.0])
                spent[0] += time.perf_counter() - wall
                spent[1] += time.thread_time() - cpu

        return wrapper

    auth.revocations.current = timed("revocation check", auth.revocations.current)
    lane = ingest_lane  # it answers a plain post
    lane.api_key_lookup = timed("auth (key lookup)", lane.api_key_lookup)
    lane.rate_limit_hit = timed("rate limit", lane.rate_limit_hit)
    lane.json_parse = timed("JSON parse", lane.json_parse)
    serializers.FastPath.run_validation = timed("validation", serializers.FastPath.run_validation)
    services.event_rows_insert = timed("insert + commit (1 statement)", services.event_rows_insert)
    services.processing_enqueue = timed("enqueue (hand-off)", services.processing_enqueue)
    services.feedback_ingest_many = timed("ingest service", services.feedback_ingest_many)
    post = timed("request total", lambda body: _wsgi_post(application, key, body))

    for i in range(200):  # warm up: key cache, connections, the validator
        post(json.dumps(event(i)).encode())
    totals.clear()
    for body in [json.dumps(event(i)).encode() for i in range(n)]:
        post(body)
    per_post = {stage: (w * 1000 / n, c * 1000 / n) for stage, (w, c) in totals.items()}
    # Nested stages: report each one's own share.
    wall, cpu = per_post["auth (key lookup)"]
    rev = per_post["revocation check"]
    per_post["auth (key lookup)"] = (wall - rev[0], cpu - rev[1])
    inner = ("validation", "insert + commit (1 statement)", "enqueue (hand-off)")
    service = per_post.pop("ingest service")
    per_post["ingest: rows, hashes, results"] = tuple(
        service[k] - sum(per_post[s][k] for s in inner) for k in (0, 1)
    )
    total = per_post.pop("request total")
    per_post["request, response, checks"] = tuple(
        total[k] - sum(v[k] for v in per_post.values()) for k in (0, 1)
    )
    per_post["request total (in-process)"] = total
    return per_post


def bench_embedded(n):
    """The embedded shape as bin/serve runs it (runserver on SQLite, no broker): sequential
    single posts, then how soon the background thread has processed them."""
    import sqlite3
    import tempfile

    data_dir = tempfile.mkdtemp(prefix="triage-bench-embedded-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(TRIAGE_DATA_DIR=data_dir, DEBUG="0", LOG_LEVEL="WARNING",
               TRIAGE_RATE_LIMIT="1000000/s")  # fmt: skip
    python = sys.executable
    run([python, "manage.py", "migrate", "-v", "0"], env=env)
    key = run(
        [python, "manage.py", "shell", "-c",
         "from accounts.services import project_get_or_create, api_key_create;"
         "p = project_get_or_create(slug='bench');"
         "print(api_key_create(project=p, scopes=['ingest'])[1])"],
        env=env, capture_output=True, text=True,
    ).stdout.split()[-1]  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [python, "manage.py", "serve", "--noreload", "--insecure", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    db = sqlite3.connect(Path(data_dir) / "triage.sqlite3", timeout=30)

    def unprocessed():
        return db.execute(
            "SELECT count(*) FROM feedback_feedbackevent WHERE processed_at IS NULL"
        ).fetchone()[0]

    try:
        server_wait(server, port, key)
        seq = bench_sequential(port, key, n)  # its warm-up loads the PII models too
        posted = time.monotonic()
        while unprocessed() and time.monotonic() - posted < 300:
            time.sleep(0.05)
        drained = time.monotonic() - posted
        lag = db.execute(
            "SELECT max(julianday(processed_at) - julianday(received_at)) * 86400, "
            "avg(julianday(processed_at) - julianday(received_at)) * 86400 "
            "FROM feedback_feedbackevent"
        ).fetchone()
        poster = Poster(port, key)  # one post on a quiet server: how soon is it picked up?
        started = time.monotonic()
        poster.post("/api/v1/feedback", event(n + 1))
        while unprocessed():
            time.sleep(0.01)
        single_pickup = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    return seq, drained, lag, single_pickup


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded shape: runserver on SQLite, no Redis, processing in a thread",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="time each stage of a single post in-process instead of over HTTP",
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seq", type=int, default=400)
    parser.add_argument("--concurrent-posts", type=int, default=1600)
    parser.add_argument("--batches-100", type=int, default=60)
    parser.add_argument("--batches-1000", type=int, default=12)
    parser.add_argument("--batch-clients", type=int, default=2, help="keep-alive clients")
    parser.add_argument("--raw-rows", type=int, default=20000)
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "TRIAGE_RATE_LIMIT": "1000000/s",  # measure ingest, not the limiter's refusals
    }
    python = sys.executable
    if args.embedded:
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        seq, drained, lag, pickup = bench_embedded(args.seq)
        seq_ms = [t * 1000 for t in seq]
        print(
            f"embedded single, sequential: mean {statistics.mean(seq_ms):.2f} ms · "
            f"p50 {statistics.median(seq_ms):.2f} ms · "
            f"p99 {sorted(seq_ms)[int(len(seq_ms) * 0.99) - 1]:.2f} ms  (n={len(seq_ms)}, "
            "runserver, SQLite)"
        )
        print(
            f"processing: all {len(seq) + 21} events processed {drained:.2f} s after the last "
            f"post; received → processed max {lag[0]:.2f} s, mean {lag[1]:.2f} s; "
            f"one post on a quiet server processed within {pickup:.2f} s"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        return
    if args.profile:
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        database_recreate()
        run([python, "manage.py", "migrate", "-v", "0"], env=env)
        _, key = bench_project(python, env)
        stages = profile_stages(env, key, args.seq)
        print(f"single post, in-process, n={args.seq}: mean per post by stage")
        print(f"  {'stage':34} {'wall ms':>8} {'cpu ms':>8}")
        for stage, (wall, cpu) in stages.items():
            print(f"  {stage:34} {wall:8.3f} {cpu:8.3f}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores; other work skews figures)")
    print(f"database {DB_URL} · redis {REDIS_URL} · web workers {args.workers} (config/web.py)")
    database_recreate()
    run([python, "manage.py", "migrate", "-v", "0"], env=env)
    project_id, key = bench_project(python, env)
    sys.path.insert(0, str(ROOT))
    from bench.ingest_limits import (
        CpuShare,
        bench_commit_floor,
        bench_http_floor,
        bench_raw_insert,
    )

    port = free_port()
    server = subprocess.Popen(
        server_command(python, "config.wsgi:application", port, args.workers),
        cwd=ROOT,
        env=env,
    )
    try:
        server_wait(server, port, key)

        seq = bench_sequential(port, key, args.seq)
        seq_ms = [t * 1000 for t in seq]
        # Next, in the conditions the posts met: the same table, before the batches and
        # raw inserts below add their rows and ~150 MB of WAL.
        commit_floor = bench_commit_floor(project_id, args.seq)
        rate16, lat16 = bench_concurrent(port, key, 16, args.concurrent_posts)
        with CpuShare(server.pid) as cpu100:
            b100 = bench_batches(port, key, 100, args.batches_100, args.batch_clients)
        with CpuShare(server.pid) as cpu1000:
            b1000 = bench_batches(port, key, 1000, args.batches_1000, args.batch_clients)
        raw_rates = bench_raw_insert(project_id, args.raw_rows)
        raw = max(raw_rates.values())
    finally:
        server.terminate()
        server.wait(timeout=30)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()

    http_floor = bench_http_floor(python, args.workers, args.seq)  # after: same quiet cores
    lat16_ms = sorted(t * 1000 for t in lat16)
    print(
        f"single, sequential   : mean {statistics.mean(seq_ms):.2f} ms · "
        f"p50 {statistics.median(seq_ms):.2f} ms · "
        f"p99 {sorted(seq_ms)[int(len(seq_ms) * 0.99) - 1]:.2f} ms  (n={len(seq_ms)})"
    )
    floor_http, floor_commit = (statistics.mean(t) * 1000 for t in (http_floor, commit_floor))
    print(
        f"  floor of one durable post: {floor_http + floor_commit:.2f} ms = keep-alive round "
        f"trip to a do-nothing app {floor_http:.2f} ms + single-row INSERT, committed in the "
        f"same round trip, {floor_commit:.2f} ms (psycopg); our own work per post: "
        f"{statistics.mean(seq_ms) - floor_http - floor_commit:.2f} ms"
    )
    print(
        f"single, 16 clients   : {rate16:,.0f} events/s · mean {statistics.mean(lat16_ms):.2f} ms"
        f" · p99 {lat16_ms[int(len(lat16_ms) * 0.99) - 1]:.2f} ms  (n={len(lat16_ms)})"
    )
    for size, rate, n, cpu in (
        (100, b100, args.batches_100, cpu100),
        (1000, b1000, args.batches_1000, cpu1000),
    ):
        us = cpu.per_event_us(size * n)
        cores = os.cpu_count()
        print(
            f"batches of {size:<5}     : {rate:,.0f} events/s  ({n} batches, "
            f"{args.batch_clients} clients) · CPU per event: service {us['service']:.0f} µs, "
            f"PostgreSQL {us['postgres']:.0f} µs, this client {us['client']:.0f} µs → "
            f"{cores} cores could do at most {cores * 1e6 / sum(us.values()):,.0f} events/s"
        )
    print(
        f"raw multi-row INSERT : {raw:,.0f} rows/s  (VALUES {raw_rates['VALUES']:,.0f} · unnest "
        f"{raw_rates['unnest']:,.0f} · jsonb_to_recordset {raw_rates['jsonb']:,.0f} · "
        f"COPY {raw_rates['COPY']:,.0f} · COPY binary {raw_rates['COPY binary']:,.0f}; "
        f"{args.raw_rows} rows, 1000 per statement, psycopg, 1 connection)"
    )
    print(
        f"ratio batched(1000) / raw INSERT: {b1000 / raw_rates['VALUES']:.0%} of the classic "
        f"multi-row VALUES INSERT · {b1000 / raw:.0%} of the fastest raw way"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        "targets (issue 15): sequential mean <= 1.0 ms, batches of 100 >= 20,000 events/s, "
        "batches of 1000 >= 60 % of the fastest raw way"
    )


if __name__ == "__main__":
    main()
