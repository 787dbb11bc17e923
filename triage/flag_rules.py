"""Auto-flag rules: find bad traces nobody thumbed down. Pure: runs in, (rule, detail) out.

A run here is a plain dict with the Run model's fields (run_type, parent_run_id, inputs,
outputs, error, metadata, start_time, total_cost, trace_id).
"""

from .dedupe import normalize_text, shingles

RULES = (
    "max_tokens",
    "circuit_breaker",
    "tool_errors",
    "cost_p95",
    "iterations_p95",
    "low_confidence",
    "rephrase",
    "abandon",
)
IMPLICIT_RULES = frozenset({"rephrase", "abandon"})  # API.md: implicit = rephrase/abandon

_STOP_KEYS = {"finish_reason", "stop_reason", "stopreason", "finishreason"}
_MAX_TOKENS = {"max_tokens", "length", "max_output_tokens", "model_length"}
_CONFIDENCE_KEYS = {
    "confidence",
    "judge_confidence",
    "guardrail_confidence",
    "judge_score",
    "guardrail_score",
}
_SESSION_KEYS = ("session_id", "thread_id", "conversation_id")
_ABANDON_WORDS = ("cancel", "abort", "client disconnected", "user left")


def _walk(value, depth=0):
    """(key, value) pairs of nested dicts/lists, bounded so hostile JSON cannot blow up."""
    if depth > 8:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k).lower(), v
            yield from _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value[:200]:
            yield from _walk(v, depth + 1)


def _hit_max_tokens(run):
    stop = run.get("stop_reason")
    if isinstance(stop, str) and stop.lower() in _MAX_TOKENS:
        return f"{run.get('name') or run.get('run_type')}: stop_reason={stop}"
    for source in (run.get("outputs"), run.get("metadata")):
        for key, value in _walk(source):
            if key in _STOP_KEYS and isinstance(value, str) and value.lower() in _MAX_TOKENS:
                return f"{run.get('name') or run.get('run_type')}: {key}={value}"
    return ""


def _tripped_breaker(run):
    for key, value in _walk(run.get("metadata")):
        if "circuit_breaker" in key and value not in (None, False, "", 0, "closed"):
            return f"metadata {key}={value}"
    error = (run.get("error") or "").lower()
    if "circuit breaker" in error or "circuitbreaker" in error or "circuit_breaker" in error:
        return "error mentions the circuit breaker"
    return ""


def _low_confidence(run, threshold):
    for key, value in _walk(run.get("metadata")):
        if (
            key in _CONFIDENCE_KEYS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            if value < threshold:
                return f"{key}={value} < {threshold}"
    return ""


def _order(runs):
    # Runs without a start time sort first, in run id order.
    return sorted(
        runs,
        key=lambda r: (
            r.get("start_time") is not None,
            r.get("start_time") or 0,
            str(r.get("run_id", "")),
        ),
    )


def trace_cost(runs):
    return float(sum(r.get("total_cost") or 0 for r in runs))


def trace_iterations(runs):
    return sum(1 for r in runs if r.get("run_type") == "llm")


def trace_flags(runs, *, enabled, cost_p95=None, iterations_p95=None, confidence_threshold=0.5):
    """Rules that fire on one trace's runs: [(rule, detail)], at most one per rule."""
    runs = _order(runs)
    found = {}

    def hit(rule, detail):
        if rule in enabled and detail and rule not in found:
            found[rule] = detail

    streak = 0
    for run in runs:
        hit("max_tokens", _hit_max_tokens(run))
        hit("circuit_breaker", _tripped_breaker(run))
        hit("low_confidence", _low_confidence(run, confidence_threshold))
        if run.get("run_type") == "tool":
            streak = streak + 1 if run.get("error") else 0
            if streak >= 2:
                hit("tool_errors", f"{streak} consecutive tool errors")
        error = (run.get("error") or "").lower()
        if not run.get("parent_run_id") and any(w in error for w in _ABANDON_WORDS):
            hit("abandon", "the user left before the answer finished")
        if not run.get("parent_run_id") and (run.get("metadata") or {}).get("abandoned") is True:
            hit("abandon", "session marked abandoned")
    if cost_p95 is not None and runs:
        cost = trace_cost(runs)
        if cost > cost_p95 > 0:
            hit("cost_p95", f"cost {cost:.4f} above the project's P95 {cost_p95:.4f}")
    if iterations_p95 is not None and runs:
        n = trace_iterations(runs)
        if n > iterations_p95 > 0:
            hit("iterations_p95", f"{n} LLM calls, above the project's P95 {iterations_p95:g}")
    return sorted(found.items())


def session_of(run):
    meta = run.get("metadata") or {}
    for key in _SESSION_KEYS:
        if meta.get(key):
            return str(meta[key])
    return ""


def input_text(inputs, limit=2000):
    """The user-visible strings of a run's inputs, joined (roles and ids skipped)."""
    parts = []
    for key, value in _walk(inputs):
        if isinstance(value, str) and key not in {"role", "type", "id", "name"}:
            parts.append(value)
    if isinstance(inputs, str):
        parts.append(inputs)
    return " ".join(parts)[:limit]


def _similar(a, b, threshold):
    sa, sb = shingles(normalize_text(a)), shingles(normalize_text(b))
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= threshold


def rephrase_flags(roots, *, window_seconds, similarity):
    """The user asked (nearly) the same thing again soon after: the earlier answer failed.

    `roots` are root runs with `session` and `start_time` (datetimes); returns
    [(trace_id, detail)] for the earlier trace of each rephrased pair.
    """
    by_session = {}
    for run in roots:
        if run.get("session") and run.get("start_time"):
            by_session.setdefault(run["session"], []).append(run)
    flagged = []
    for session in sorted(by_session):
        runs = sorted(by_session[session], key=lambda r: (r["start_time"], r["trace_id"]))
        for before, after in zip(runs, runs[1:], strict=False):
            gap = (after["start_time"] - before["start_time"]).total_seconds()
            if 0 <= gap <= window_seconds and _similar(before["text"], after["text"], similarity):
                flagged.append((before["trace_id"], f"rephrased {gap:.0f} s later in the session"))
    return flagged


def percentile(values, q):
    """Nearest-rank percentile; None for an empty list."""
    values = sorted(values)
    if not values:
        return None
    rank = max(1, -(-len(values) * q // 100))  # ceil
    return values[int(rank) - 1]
