"""Limits of this machine that bench/ingest.py prints next to the service's figures: the
fastest raw INSERT of the same rows (the ceiling for batches) and the floor of one durable
post (a do-nothing HTTP round trip plus a single-row INSERT committed in its own round trip)."""

import json
import os
import subprocess
import time
import uuid

from bench.ingest import (
    DB_URL,
    INSERT_COLUMNS,
    ROOT,
    Poster,
    event,
    free_port,
    server_command,
)
from bench.pipeline_stats import HZ, process_ticks


def bench_raw_insert(project_id, rows, batch=1000):
    """The ceiling: the same rows and columns written straight through psycopg, one
    connection, a commit per 1000 rows; rows and statements are built before timing.

    Five ways, and the fastest is the ceiling: a multi-row INSERT … VALUES (…), (…), an
    INSERT … SELECT FROM unnest(<one array per column>), INSERT … SELECT FROM
    jsonb_to_recordset(<the batch as JSON>) (single posts use its json twin), and COPY in
    text and binary format (batches use binary).
    """
    from datetime import UTC, datetime

    import psycopg
    from psycopg.types.json import Jsonb

    stamp = datetime.now(tz=UTC)
    table = []
    for i in range(rows):
        e = event(i)
        table.append(
            [project_id, e["id"], "0" * 64, e["trace_id"], e["run_id"], "", "", "f" * 64,
             "down", None, "billing", e["comment"], "", e["model_id"], "pro", "en-US",
             "explicit", e["metadata"], stamp, stamp]
        )  # fmt: skip
    batches = [table[start : start + batch] for start in range(0, rows, batch)]
    columns = ", ".join(INSERT_COLUMNS)
    one_row = "(" + ", ".join(["%s"] * len(INSERT_COLUMNS)) + ")"
    values_sql = {
        n: f"INSERT INTO feedback_feedbackevent ({columns}) VALUES " + ", ".join([one_row] * n)
        for n in {len(b) for b in batches}
    }
    types = {"project_id": "bigint[]", "score": "float8[]", "metadata": "jsonb[]",
             "created_at": "timestamptz[]", "received_at": "timestamptz[]"}  # fmt: skip
    unnest_sql = (
        f"INSERT INTO feedback_feedbackevent ({columns}) SELECT * FROM unnest("
        + ", ".join(f"%s::{types.get(c, 'text[]')}" for c in INSERT_COLUMNS)
        + ")"
    )
    values_params = [
        [v if i != 17 else Jsonb(v) for row in b for i, v in enumerate(row)] for b in batches
    ]
    unnest_params = [
        [[row[i] if i != 17 else Jsonb(row[i]) for row in b] for i in range(len(INSERT_COLUMNS))]
        for b in batches
    ]
    record = ", ".join(f"{c} {types.get(c, 'text[]')[:-2]}" for c in INSERT_COLUMNS)
    jsonb_sql = (
        f"INSERT INTO feedback_feedbackevent ({columns}) SELECT {columns} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS c({record})"
    )

    def jsonb_params():  # built after the ids are refreshed, before timing
        return [
            [json.dumps([dict(zip(INSERT_COLUMNS, row, strict=True)) for row in b], default=str)]
            for b in batches
        ]

    rates = {}
    with psycopg.connect(DB_URL) as conn:
        for name, sql_for, params in (
            ("VALUES", lambda b: values_sql[len(b)], values_params),
            ("unnest", lambda b: unnest_sql, unnest_params),
            ("jsonb", lambda b: jsonb_sql, None),
        ):
            conn.execute("DELETE FROM feedback_feedbackevent WHERE body_hash = %s", ["0" * 64])
            conn.commit()
            for b in batches:  # fresh ids per run: the unique constraint must not fire
                for row in b:
                    row[1] = f"raw-{uuid.uuid4().hex}"
            params = params or jsonb_params()
            started = time.perf_counter()
            for b, p in zip(batches, params, strict=True):
                conn.execute(sql_for(b), p)
                conn.commit()
            rates[name] = rows / (time.perf_counter() - started)
        copy_sql = f"COPY feedback_feedbackevent ({columns}) FROM STDIN"
        for name, binary in (("COPY", False), ("COPY binary", True)):
            conn.execute("DELETE FROM feedback_feedbackevent WHERE body_hash = %s", ["0" * 64])
            conn.commit()
            copy_rows = [
                [*r[:1], f"raw-{uuid.uuid4().hex}", *r[2:17], Jsonb(r[17]), *r[18:]] for r in table
            ]
            copy_batches = [copy_rows[start : start + batch] for start in range(0, rows, batch)]
            started = time.perf_counter()
            with conn.cursor() as cursor:
                for b in copy_batches:
                    with cursor.copy(copy_sql + (" (FORMAT BINARY)" if binary else "")) as copy:
                        if binary:
                            copy.set_types([types.get(c, "text[]")[:-2] for c in INSERT_COLUMNS])
                        for row in b:
                            copy.write_row(row)
                    conn.commit()
            rates[name] = rows / (time.perf_counter() - started)
        conn.execute("DELETE FROM feedback_feedbackevent WHERE body_hash = %s", ["0" * 64])
        conn.commit()
    return rates


def bench_commit_floor(project_id, n):
    """One durable write on its own: a single-row INSERT of a feedback row through psycopg,
    prepared and committed in the same round trip (autocommit), as the service sends it; n
    times in turn on one connection (the WAL flush is most of it) → seconds each."""
    from datetime import UTC, datetime

    import psycopg
    from psycopg.types.json import Jsonb

    e, stamp = event(0), datetime.now(tz=UTC)
    columns = ", ".join(INSERT_COLUMNS)
    sql = (
        f"INSERT INTO feedback_feedbackevent ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(INSERT_COLUMNS))})"
    )
    rows = [
        [project_id, f"floor-{uuid.uuid4().hex}", "1" * 64, e["trace_id"], e["run_id"], "", "",
         "f" * 64, "down", None, "billing", e["comment"], "", e["model_id"], "pro", "en-US",
         "explicit", Jsonb(e["metadata"]), stamp, stamp]
        for _ in range(n)
    ]  # fmt: skip
    times = []
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        for row in rows:
            started = time.perf_counter()
            conn.execute(sql, row, prepare=True)
            times.append(time.perf_counter() - started)
        conn.execute("DELETE FROM feedback_feedbackevent WHERE body_hash = %s", ["1" * 64])
    return times


def bench_http_floor(python, workers, n):
    """Sequential keep-alive posts of a feedback body to the web server (config/web.py)
    serving bench/http_floor.py (same workers and threads, an app that does nothing) →
    seconds each."""
    port = free_port()
    server = subprocess.Popen(
        server_command(python, "bench.http_floor:app", port, workers), cwd=ROOT
    )
    try:
        poster, deadline = Poster(port, "none"), time.monotonic() + 30
        while True:
            try:
                poster.post("/api/v1/feedback", event(0))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for i in range(20):
            poster.post("/api/v1/feedback", event(i))
        times = []
        for body in [json.dumps(event(i)).encode() for i in range(n)]:
            started = time.perf_counter()
            poster.post("/api/v1/feedback", body)
            times.append(time.perf_counter() - started)
        return times
    finally:
        server.terminate()
        server.wait(timeout=30)


def _cpu_seconds(pid):
    return (process_ticks(pid) or 0) / HZ  # 0 once the process is gone


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def _postgres_pids():
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if f.read().startswith("postgres"):
                        pids.append(int(name))
            except OSError:
                pass
    return pids


class CpuShare:
    """CPU seconds spent by the service (the web server's workers), PostgreSQL (every backend and
    its background writers) and this benchmark while a block runs: where a batch's time
    goes on this machine, and how fast its cores could go at best."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def _sample(self):
        return {
            "service": sum(map(_cpu_seconds, [self.server_pid, *_descendants(self.server_pid)])),
            "postgres": sum(map(_cpu_seconds, _postgres_pids())),
            "client": time.process_time(),
        }

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        self.spent = {k: end[k] - self.start[k] for k in end}

    def per_event_us(self, events):
        return {k: v * 1e6 / events for k, v in self.spent.items()}
