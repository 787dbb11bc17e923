"""Writing feedback event rows: the one statement an ingest commits.

On PostgreSQL a post's rows go as one prepared INSERT … SELECT FROM json_to_recordset(),
or, for larger batches of new ids, one binary COPY; elsewhere (SQLite, embedded) as
multi-row VALUES inserts in a transaction. An id already stored is skipped, never written
twice: the INSERTs skip it (ON CONFLICT DO NOTHING), and a COPY that meets one gives way
to the INSERT.
"""

import functools
import json
import operator
from contextlib import nullcontext
from datetime import datetime

import orjson
import psycopg
from django.db import IntegrityError, connection, transaction
from psycopg import pq

from .models import FeedbackEvent

# Columns written on ingest, in order; everything else keeps its database default.
INSERT_COLUMNS = (
    "project_id", "client_id", "body_hash", "trace_id", "run_id", "session_id", "message_id",
    "user_hash", "rating", "score", "category", "comment", "prompt_hash", "model_id",
    "customer_tier", "locale", "intent", "source", "metadata", "created_at", "received_at",
)  # fmt: skip
INSERT_CHUNK = 500  # rows per statement: 10 000 parameters, inside SQLite's limit too


# Column types for json_to_recordset(): the whole batch travels as one JSON parameter (json,
# not jsonb: the server checks the text once and parses each row as it reads it, ~1.5 µs a
# row less than building a jsonb of the whole batch first).
_PG_TYPES = {"project_id": "bigint", "score": "float8", "metadata": "jsonb",
             "created_at": "timestamptz", "received_at": "timestamptz"}  # fmt: skip
_PG_RECORD_TYPES = ", ".join(f"{name} {_PG_TYPES.get(name, 'text')}" for name in INSERT_COLUMNS)


@functools.cache
def _pg_insert_sql():
    columns = ", ".join(connection.ops.quote_name(name) for name in INSERT_COLUMNS)
    return (
        f"INSERT INTO {connection.ops.quote_name(FeedbackEvent._meta.db_table)} ({columns}) "
        f"SELECT {columns} FROM json_to_recordset($1::json) AS c({_PG_RECORD_TYPES}) "
        "ON CONFLICT DO NOTHING RETURNING id, client_id"
    ).encode()


_PG_INSERT_NAME = b"triage_feedback_insert"  # psycopg names its own _pg3_<n>


def _pg_check(result, pg):
    """psycopg's exception for a failed libpq result (Django's wrapper maps it)."""
    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        raise psycopg.errors.error_from_result(result, encoding=pg.info.encoding)


def _pg_exec_prepared(pg, param, *, may_reprepare=True):
    """Run the insert prepared on psycopg connection `pg`, preparing it first if needed.
    The flag lives on that connection object, so a reconnect starts without it."""
    pgconn = pg.pgconn
    if not getattr(pg, "triage_insert_prepared", False):
        _pg_check(pgconn.prepare(_PG_INSERT_NAME, _pg_insert_sql()), pg)
        pg.triage_insert_prepared = True
    result = pgconn.exec_prepared(_PG_INSERT_NAME, param)
    if (
        may_reprepare
        and result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000"  # no such statement
        and pgconn.transaction_status == pq.TransactionStatus.IDLE  # nothing was aborted
    ):
        # A DEALLOCATE ALL dropped it (psycopg sends one after a rollback if it prepared
        # statements of its own; poolers reset sessions with DISCARD ALL): prepare again.
        pg.triage_insert_prepared = False
        return _pg_exec_prepared(pg, param, may_reprepare=False)
    return result


def _pg_insert(rows_json):  # bytes: the rows as one JSON array
    """One statement, atomic by itself (no BEGIN/COMMIT round trips), prepared once per
    connection: Django's cursors bind client-side and never prepare, and parsing and
    planning this 21-column statement cost ~0.3 ms, a third of a single post's time in
    the database.

    It goes through the connection's libpq handle (psycopg's documented `pgconn`): one
    text parameter and two result columns need none of a cursor's adaptation, which cost
    ~50 µs of a single post's CPU. It runs on Django's own connection, so it keeps the
    transaction (and the tests' atomic blocks), and errors become psycopg's, then
    Django's, exceptions as before. With DATABASE_PREPARE=0 (prepare_threshold None) it
    goes unprepared, as psycopg's statements do."""
    connection.ensure_connection()
    pg, param = connection.connection, [rows_json]
    with connection.wrap_database_errors:
        if pg.prepare_threshold is None:
            result = pg.pgconn.exec_params(_pg_insert_sql(), param)
        else:
            result = _pg_exec_prepared(pg, param)
        _pg_check(result, pg)
    return [
        (int(result.get_value(row, 0)), None if (cid := result.get_value(row, 1)) is None
         else cid.decode())
        for row in range(result.ntuples)
    ]  # fmt: skip


# Batches take COPY … FROM STDIN (FORMAT BINARY): the server neither parses JSON nor text,
# 11-13 µs a row less than json_to_recordset (bench/ingest.py prints both). COPY takes two
# round trips to the INSERT's one: measured, the two cost the same at 10 rows, and COPY is
# ~8 % faster with 12 % less CPU (ours + the server's) at 20.
COPY_MIN_ROWS = 20
_COPY_COLUMNS = tuple(name for name in INSERT_COLUMNS if name != "metadata") + ("metadata",)
_copy_values = operator.itemgetter(*_COPY_COLUMNS[:-1])
# jsonb's binary form is a version byte and the JSON text, so metadata goes as raw bytes.
_COPY_TYPES = [_PG_TYPES.get(name, "text") for name in _COPY_COLUMNS[:-1]] + ["bytea"]


@functools.cache
def _pg_copy_sql():
    columns = ", ".join(connection.ops.quote_name(name) for name in _COPY_COLUMNS)
    table = connection.ops.quote_name(FeedbackEvent._meta.db_table)
    return f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"


def _pg_copy(rows):
    """Write every row with one COPY, or none: False when a client id is taken already
    (a retried batch), which COPY cannot skip, so the caller inserts ON CONFLICT instead.
    Binary, so a failed COPY's server log context names a line number, never row text."""
    connection.ensure_connection()
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with (
            savepoint,
            connection.wrap_database_errors,
            psycopg.Cursor(connection.connection) as cursor,
            cursor.copy(_pg_copy_sql()) as copy,
        ):
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row((*_copy_values(row), b"\x01" + _json_bytes(row["metadata"])))
    except IntegrityError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise
        return False
    return True


def _json_bytes(value):
    """JSON by orjson (a tenth of json.dumps' time; it writes aware datetimes as ISO 8601).
    The standard library takes what orjson refuses: integers past 64 bits in metadata,
    which PostgreSQL's jsonb stores."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=datetime.isoformat).encode()


def event_rows_insert(rows, *, ids_needed=False):
    """Write the rows in one atomic write; return (id, client_id) of each row written.

    INSERT … ON CONFLICT DO NOTHING RETURNING id, client_id: the unique constraint decides
    duplicates, so concurrent posts of one id insert exactly once with no read-then-write
    race. On PostgreSQL a single post's batch is one JSON parameter unpacked by
    json_to_recordset() (orjson and the server's JSON parser are C, while a VALUES list
    spends more time in psycopg's Python adaptation than in the server). Larger batches
    with distinct ids try COPY first; it returns no ids (None), so not when `ids_needed`.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        client_ids = [row["client_id"] for row in rows if row["client_id"] is not None]
        if (
            len(rows) >= COPY_MIN_ROWS
            and not ids_needed
            and len(set(client_ids)) == len(client_ids)
            and _pg_copy(rows)
        ):
            return [(None, row["client_id"]) for row in rows]
        return _pg_insert(_json_bytes(rows))
    ops = connection.ops
    table = ops.quote_name(FeedbackEvent._meta.db_table)
    columns = ", ".join(ops.quote_name(name) for name in INSERT_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        inserted = []
        one_row = "(" + ", ".join(["%s"] * len(INSERT_COLUMNS)) + ")"
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            params = []
            for row in chunk:
                for name in INSERT_COLUMNS:
                    value = row[name]
                    if name == "metadata":
                        value = json.dumps(value)
                    elif name in ("created_at", "received_at"):
                        value = ops.adapt_datetimefield_value(value)
                    params.append(value)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * len(chunk))} "
                "ON CONFLICT DO NOTHING RETURNING id, client_id",
                params,
            )
            inserted.extend(cursor.fetchall())
        return inserted
