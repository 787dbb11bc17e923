"""Low-level SQL shared by the triage job's modules: per-project advisory locks, relaxed
commit durability, COPY and set-based UPDATE (PostgreSQL; callers keep an ORM path for SQLite).
"""

from contextlib import contextmanager

from django.db import connection, transaction

_LOCK_NAMESPACE = 0x7261  # pg_advisory_xact_lock(namespace, project id)
_PLAN_NAMESPACE = 0x7262  # per-ingest workers' turn to plan and write (see lock_project_shared)


def is_pg():
    return connection.vendor == "postgresql"


def lock_project(project_id):
    """Serialize clustering per project (SQLite transactions are serialized already)."""
    if is_pg():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, project_id])
        no_sync_commit()


def lock_project_shared(project_id):
    """Per-ingest workers take the project lock shared, before they claim any row: together
    they exclude the job and whoever else clusters under `lock_project` (which never waits
    on a worker holding rows it needs), but not each other (PostgreSQL; no-op on SQLite)."""
    if is_pg():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock_shared(%s, %s)", [_LOCK_NAMESPACE, project_id]
            )


def lock_project_planning(project_id):
    """Per-ingest workers plan and write one at a time per project: matching against the
    clusters others just created needs their commits (PostgreSQL; no-op on SQLite)."""
    if is_pg():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_PLAN_NAMESPACE, project_id])


def no_sync_commit():
    # A crash may lose the last batches' commits, never corrupt them; the rerun redoes
    # them (idempotent), and not waiting on each WAL flush saves seconds.
    if is_pg():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")


@contextmanager
def job_lock(project_id):
    """The project's clustering lock for a whole job run (a session lock, PostgreSQL).

    Per-event tasks wait on the same lock; a killed worker's lock dies with its connection.
    """
    if not is_pg():
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, project_id])
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, project_id])


def copy_rows(table, columns, rows):
    """COPY rows into a table (PostgreSQL): far cheaper than INSERTs with bound params."""
    with connection.cursor() as c:
        with c.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def update_rows(table, columns, types, rows, extra_set="", extra_where="", params=()):
    """Many rows' new values in one UPDATE … FROM a COPY-filled temp table (PostgreSQL)."""
    if not rows:
        return
    tmp = f"_set_{table}"
    sets = ", ".join([f"{c} = v.{c}" for c in columns[1:]] + ([extra_set] if extra_set else []))
    where = "t.id = v.id" + (f" AND {extra_where}" if extra_where else "")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {tmp}")
        cur.execute(
            f"CREATE TEMP TABLE {tmp} ("
            + ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
            + ") ON COMMIT DROP"
        )
        copy_rows(tmp, columns, rows)
        cur.execute(f"UPDATE {table} AS t SET {sets} FROM {tmp} AS v WHERE {where}", list(params))


class AtLeast(int):
    """A count that stopped at its cap: pages show it as "1,000+" (see count_label)."""


def capped(n, cap):
    """`n`, or AtLeast(cap) past the cap."""
    return AtLeast(cap) if n > cap else n


def count_capped(queryset, cap):
    """The exact count up to `cap`, else AtLeast(cap): reads at most cap + 1 rows.

    An exact COUNT(*) over a big filtered set reads all of it (hundreds of ms at 1 M
    queue items); a reviewer only needs to know it is "a lot".
    """
    return capped(queryset.order_by()[: cap + 1].count(), cap)
