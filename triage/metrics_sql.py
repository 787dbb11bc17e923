"""Set-based SQL for production-health metrics, on PostgreSQL and SQLite alike.

Per time window: one statement builds a temporary table of the window's production traces
(runs grouped by trace, joined with their explicit feedback, every slice value resolved),
one more the durations of their llm/retriever/tool runs; then two aggregate statements per
slice dimension read those. The runs are read once per window, not once per dimension.

Percentiles are exact nearest-rank values computed in SQL on both databases, no sampling:
PostgreSQL's percentile_disc, and on SQLite (no percentile function) the same rank from
window functions (ROW_NUMBER / COUNT over the slice, the first row whose rank reaches
ceil(q·n)). The tests assert the same values on both.

A trace belongs to the window its root run started in; child runs are counted when they
start inside the same window (a trace straddling midnight loses its late children to the
next day's bucket, where they have no root and are dropped: a rounding at the edges).
"""

from django.conf import settings
from django.db import connection, transaction

# Slice dimensions: where each value comes from, the root run's metadata first, then the
# explicit feedback on the trace (apps often send tier and locale only with feedback).
DIMENSIONS = ("model_id", "prompt_hash", "customer_tier", "locale", "feature_flag")
ALL = "all"
RUN_TYPES = ("llm", "retriever", "tool")  # latency per run type (retriever = retrieval)

# Metadata keys that mark a run as part of an offline experiment, not production traffic
# (besides Run.reference_example_id, set for runs of `evaluate()`).
EXPERIMENT_KEYS = ("experiment_id", "ls_experiment_id")
_MAX_TOKENS = ("max_tokens", "length", "max_output_tokens", "model_length")


def _pg():
    return connection.vendor == "postgresql"


def json_text(column, key):
    """A top-level metadata value as text (NULL when absent). `key` is ours, never input."""
    if _pg():
        return f"({column}->>'{key}')"
    return f"CAST(json_extract({column}, '$.{key}') AS TEXT)"


def json_number(column, key):
    """A top-level metadata value when it is a JSON number, else NULL (never a cast error)."""
    if _pg():
        return (
            f"(CASE WHEN jsonb_typeof({column}->'{key}') = 'number' "
            f"THEN ({column}->>'{key}')::float END)"
        )
    return (
        f"(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') "
        f"THEN json_extract({column}, '$.{key}') END)"
    )


def binary(expr):
    """Compare and sort by bytes (PostgreSQL's "C" collation; SQLite's default already):
    slice values are grouped, never shown in a locale's order, and a collation-aware sort
    of a quarter-million strings costs PostgreSQL seconds."""
    return f'({expr} COLLATE "C")' if _pg() else expr


def duration_ms(alias="r"):
    if _pg():
        return f"ROUND(EXTRACT(EPOCH FROM ({alias}.end_time - {alias}.start_time)) * 1000)"
    return f"ROUND((julianday({alias}.end_time) - julianday({alias}.start_time)) * 86400000.0)"


def experiment_run_sql(alias="r"):
    """THE test for "this run is an offline experiment, not production traffic": it ran
    against a dataset example (LangSmith's `reference_example_id`, the same test as
    feedback.selectors.production_runs) or its metadata names an experiment. A trace with
    any such run is left out of every production metric."""
    return (
        f"({alias}.reference_example_id <> '' OR "
        + " OR ".join(
            f"COALESCE({json_text(f'{alias}.metadata', key)}, '') NOT IN ('', 'null')"
            for key in EXPERIMENT_KEYS
        )
        + ")"
    )


def _traces_cte():
    """One row per production trace whose root started in [start, end)."""
    root = "r.parent_run_id = ''"
    meta = {key: json_text("r.metadata", key) for key in DIMENSIONS}
    breaker = json_text("r.metadata", "circuit_breaker")
    max_tokens = ", ".join(f"'{v}'" for v in _MAX_TOKENS)
    return f"""
    t AS (
      SELECT r.trace_id,
        MAX(CASE WHEN {root} THEN 1 ELSE 0 END) AS has_root,
        MAX(CASE WHEN {experiment_run_sql()} THEN 1 ELSE 0 END) AS experiment,
        MIN(CASE WHEN {root} THEN r.start_time END) AS started,
        MAX(CASE WHEN {root} AND r.end_time IS NOT NULL THEN {duration_ms()} END) AS latency_ms,
        MAX(CASE WHEN {root} AND r.error <> '' THEN 1 ELSE 0 END) AS root_error,
        MAX(CASE WHEN {root} AND r.end_time IS NOT NULL AND r.error = ''
              AND (r.outputs IS NULL OR CAST(r.outputs AS TEXT) IN ('{{}}', 'null', '""'))
            THEN 1 ELSE 0 END) AS empty_response,
        MAX(CASE WHEN {root} THEN {meta["model_id"]} END) AS m_model_id,
        MAX(CASE WHEN r.run_type = 'llm' AND r.model <> '' THEN r.model END) AS llm_model,
        MAX(CASE WHEN {root} THEN {meta["prompt_hash"]} END) AS m_prompt_hash,
        MAX(CASE WHEN {root} THEN {meta["customer_tier"]} END) AS m_customer_tier,
        MAX(CASE WHEN {root} THEN {meta["locale"]} END) AS m_locale,
        MAX(CASE WHEN {root} THEN {meta["feature_flag"]} END) AS m_feature_flag,
        SUM(COALESCE(r.total_cost, 0)) AS cost,
        SUM(COALESCE(r.total_tokens, 0)) AS tokens,
        SUM(CASE WHEN r.run_type = 'tool' THEN 1 ELSE 0 END) AS tool_calls,
        COUNT(DISTINCT CASE WHEN r.run_type = 'tool'
              THEN r.name || ':' || CAST(r.inputs AS TEXT) END) AS distinct_tool_calls,
        MAX(CASE WHEN r.run_type = 'tool' AND r.error <> '' THEN 1 ELSE 0 END) AS tool_error,
        MAX(CASE WHEN r.error <> '' AND (r.run_type = 'parser'
              OR LOWER(r.error) LIKE '%%parse%%' OR LOWER(r.error) LIKE '%%json%%')
            THEN 1 ELSE 0 END) AS parse_error,
        MAX(CASE WHEN LOWER(r.stop_reason) IN ({max_tokens}) THEN 1 ELSE 0 END) AS max_tokens,
        MAX(CASE WHEN LOWER(r.error) LIKE '%%circuit%%breaker%%'
              OR COALESCE({breaker}, '') NOT IN ('', '0', 'false', 'closed', 'null')
            THEN 1 ELSE 0 END) AS breaker,
        MIN({json_number("r.metadata", "judge_score")}) AS judge
      FROM feedback_run r
      WHERE r.project_id = %(project)s AND r.start_time >= %(start)s AND r.start_time < %(end)s
      GROUP BY r.trace_id
    ),
    fb AS (
      SELECT e.trace_id,
        MAX(CASE WHEN e.rating = 'down' OR (e.rating = '' AND e.score < 0.5)
            THEN 1 ELSE 0 END) AS neg,
        MAX(CASE WHEN e.rating = 'up' OR (e.rating = '' AND e.score >= 0.5)
            THEN 1 ELSE 0 END) AS pos,
        MAX(NULLIF(e.model_id, '')) AS model_id,
        MAX(NULLIF(e.prompt_hash, '')) AS prompt_hash,
        MAX(NULLIF(e.customer_tier, '')) AS customer_tier,
        MAX(NULLIF(e.locale, '')) AS locale
      FROM feedback_feedbackevent e
      WHERE e.project_id = %(project)s AND e.source = 'explicit'
        AND e.trace_id IN (SELECT trace_id FROM t)
      GROUP BY e.trace_id
    )"""


def _slice_expr(dimension):
    if dimension == ALL:
        return "''"
    if dimension == "model_id":
        parts = "NULLIF(t.m_model_id, ''), t.llm_model, fb.model_id"
    elif dimension == "feature_flag":
        parts = "NULLIF(t.m_feature_flag, '')"
    else:
        parts = f"NULLIF(t.m_{dimension}, ''), fb.{dimension}"
    return f"SUBSTR(COALESCE({parts}, ''), 1, 128)"


TRACES_TABLE = "health_traces"
RUN_TIMES_TABLE = "health_run_times"


def traces_table_sql():
    """CREATE the window's production traces, one row each, with a column per dimension."""
    slices = ", ".join(f"{binary(_slice_expr(d))} AS d_{d}" for d in (ALL, *DIMENSIONS))
    return f"""
    CREATE TEMP TABLE {TRACES_TABLE} AS
    WITH {_traces_cte()}
    SELECT t.*, ROW_NUMBER() OVER () AS tid, {slices},
      COALESCE(fb.neg, 0) AS neg, COALESCE(fb.pos, 0) AS pos
    FROM t LEFT JOIN fb ON fb.trace_id = t.trace_id
    WHERE t.has_root = 1 AND t.experiment = 0
    """


def run_times_table_sql():
    """CREATE the durations of those traces' llm, retriever and tool runs."""
    types = ", ".join(f"'{t}'" for t in RUN_TYPES)
    return f"""
    CREATE TEMP TABLE {RUN_TIMES_TABLE} AS
    SELECT h.tid, {binary("r.run_type")} AS run_type, {duration_ms()} AS v
    FROM feedback_run r JOIN {TRACES_TABLE} h ON h.trace_id = r.trace_id
    WHERE r.project_id = %(project)s AND r.start_time >= %(start)s AND r.start_time < %(end)s
      AND r.run_type IN ({types}) AND r.end_time IS NOT NULL
    """


def _percentile(q, value="v", rank="rn", count="n"):
    """Nearest-rank percentile q (an integer percent) of `value`.

    PostgreSQL: percentile_disc, which is nearest rank (the first value whose cumulative
    share reaches q). SQLite has no percentile function: the same rank from window
    functions — the smallest value whose rank reaches ceil(q·n), in integer arithmetic —
    over the `ranked` rows the statements below build for it."""
    if _pg():
        return f"percentile_disc({q / 100}) WITHIN GROUP (ORDER BY {value})"
    return f"MIN(CASE WHEN {rank} * 100 >= {q} * {count} THEN {value} END)"


def _ranked(source, partition, value):
    """`source` as the rows the aggregate reads: as is on PostgreSQL, with each row's rank
    and its partition's count of values on SQLite (for _percentile)."""
    if _pg():
        return f"(SELECT src.*, {value} AS v FROM {source} src) s"
    return f"""(SELECT src.*, {value} AS v,
        ROW_NUMBER() OVER (PARTITION BY {partition}
          ORDER BY CASE WHEN {value} IS NULL THEN 1 ELSE 0 END, {value}) AS rn,
        COUNT({value}) OVER (PARTITION BY {partition}) AS n
      FROM {source} src) s"""


def slice_totals_sql(dimension):
    """Per slice: counts, sums, end-to-end latency p50/p95, first/last root start."""
    judged = "(s.neg = 1 OR s.pos = 1 OR s.judge IS NOT NULL)"
    success = (
        f"({judged} AND s.neg = 0 AND COALESCE(s.judge, 1) >= %(judge_pass)s AND s.root_error = 0)"
    )
    source = f"(SELECT h.*, h.d_{dimension} AS slice FROM {TRACES_TABLE} h)"
    return f"""
    SELECT s.slice, COUNT(*), SUM(s.neg),
      SUM(CASE WHEN {judged} THEN 1 ELSE 0 END),
      SUM(CASE WHEN {success} THEN 1 ELSE 0 END),
      SUM(s.tokens), SUM(s.cost), SUM(s.tool_calls),
      SUM(CASE WHEN {success} THEN s.tool_calls ELSE 0 END),
      SUM(s.tool_calls - s.distinct_tool_calls),
      SUM(s.tool_error), SUM(s.parse_error), SUM(s.empty_response), SUM(s.max_tokens),
      SUM(s.breaker), {_percentile(50, "s.v", "s.rn", "s.n")},
      {_percentile(95, "s.v", "s.rn", "s.n")}, MIN(s.started), MAX(s.started)
    FROM {_ranked(source, "src.slice", "src.latency_ms")}
    GROUP BY s.slice
    """


SLICE_TOTALS_COLUMNS = (
    "value", "traces", "thumbs_down", "judged", "successes", "tokens", "cost", "tool_calls",
    "success_tool_calls", "redundant_calls", "tool_error_traces", "parse_error_traces",
    "empty_response_traces", "max_tokens_traces", "breaker_traces", "latency_p50_ms",
    "latency_p95_ms", "first_seen_at", "last_seen_at",
)  # fmt: skip


def run_type_latency_sql(dimension):
    """Per slice and run type (llm, retriever, tool): runs, latency p50/p95."""
    source = f"""(SELECT h.d_{dimension} AS slice, x.run_type, x.v AS ms
      FROM {RUN_TIMES_TABLE} x JOIN {TRACES_TABLE} h ON h.tid = x.tid)"""
    return f"""
    SELECT s.slice, s.run_type, COUNT(*), {_percentile(50, "s.v", "s.rn", "s.n")},
      {_percentile(95, "s.v", "s.rn", "s.n")}
    FROM {_ranked(source, "src.slice, src.run_type", "src.ms")}
    GROUP BY s.slice, s.run_type
    """


def window_query(*, project_id, start, end, dimensions):
    """{dimension: (slice totals rows, run-type latency rows)} for [start, end).

    The temporary tables live only inside this call's transaction (dropped before it ends;
    temporary tables are private to their connection), so concurrent rollups never meet.
    """
    ops = connection.ops
    params = {
        "project": project_id,
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "judge_pass": settings.TRIAGE_JUDGE_PASS_SCORE,
    }
    out = {}
    with transaction.atomic(), connection.cursor() as cursor:
        if _pg():
            # JIT compiling these wide aggregates costs seconds per statement and saves
            # nothing at this size; the per-trace sort wants more than the default 4 MB.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"SET LOCAL work_mem = '{settings.TRIAGE_ROLLUP_WORK_MEM}'")
        for table in (RUN_TIMES_TABLE, TRACES_TABLE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(traces_table_sql(), params)
        if _pg():  # temporary tables get no statistics unless asked: plans go astray
            cursor.execute(f"ANALYZE {TRACES_TABLE}")
        cursor.execute(run_times_table_sql(), params)
        if _pg():
            cursor.execute(f"ANALYZE {RUN_TIMES_TABLE}")
        for dimension in dimensions:
            cursor.execute(slice_totals_sql(dimension), params)
            totals = cursor.fetchall()
            cursor.execute(run_type_latency_sql(dimension), params)
            out[dimension] = (totals, cursor.fetchall())
        for table in (RUN_TIMES_TABLE, TRACES_TABLE):
            cursor.execute(f"DROP TABLE {table}")
    return out
