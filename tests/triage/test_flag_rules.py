from datetime import UTC, datetime, timedelta

from triage import drift, flag_rules

ALL = set(flag_rules.RULES)
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def run(run_type="llm", parent="root", **kw):
    return {
        "run_id": kw.pop("run_id", "r"),
        "run_type": run_type,
        "parent_run_id": parent,
        "start_time": kw.pop("start_time", T0),
        **kw,
    }


def test_max_tokens_from_outputs_or_metadata():
    hit = flag_rules.trace_flags(
        [run(outputs={"generations": [{"finish_reason": "length"}]})], enabled=ALL
    )
    assert [r for r, _ in hit] == ["max_tokens"]
    hit = flag_rules.trace_flags([run(metadata={"stop_reason": "max_tokens"})], enabled=ALL)
    assert [r for r, _ in hit] == ["max_tokens"]
    assert flag_rules.trace_flags([run(outputs={"finish_reason": "stop"})], enabled=ALL) == []


def test_rules_can_be_switched_off():
    runs = [run(metadata={"stop_reason": "max_tokens"})]
    assert flag_rules.trace_flags(runs, enabled=ALL - {"max_tokens"}) == []


def test_circuit_breaker_from_metadata_or_error():
    assert flag_rules.trace_flags([run(metadata={"circuit_breaker": "open"})], enabled=ALL)
    assert flag_rules.trace_flags([run(error="CircuitBreakerOpen: payments down")], enabled=ALL)
    assert not flag_rules.trace_flags([run(metadata={"circuit_breaker": "closed"})], enabled=ALL)


def test_two_consecutive_tool_errors_but_not_separated_ones():
    t = [T0 + timedelta(seconds=i) for i in range(4)]
    bad = [
        run("tool", error="timeout", start_time=t[0], run_id="a"),
        run("tool", error="500", start_time=t[1], run_id="b"),
    ]
    assert [r for r, _ in flag_rules.trace_flags(bad, enabled=ALL)] == ["tool_errors"]
    separated = [
        run("tool", error="timeout", start_time=t[0], run_id="a"),
        run("tool", start_time=t[1], run_id="b"),
        run("tool", error="500", start_time=t[2], run_id="c"),
    ]
    assert flag_rules.trace_flags(separated, enabled=ALL) == []


def test_cost_and_iterations_above_p95():
    runs = [run(total_cost=0.5, run_id=str(i)) for i in range(6)]
    hits = flag_rules.trace_flags(runs, enabled=ALL, cost_p95=1.0, iterations_p95=4)
    rules = [r for r, _ in hits]
    assert rules == ["cost_p95", "iterations_p95"]
    assert flag_rules.percentile(list(range(1, 101)), 95) == 95


def test_low_confidence_from_judge_metadata():
    hit = flag_rules.trace_flags([run(metadata={"judge": {"confidence": 0.2}})], enabled=ALL)
    assert [r for r, _ in hit] == ["low_confidence"]
    assert not flag_rules.trace_flags([run(metadata={"confidence": 0.9})], enabled=ALL)


def test_abandon_on_cancelled_root():
    hit = flag_rules.trace_flags([run(parent="", error="Cancelled by client")], enabled=ALL)
    assert [r for r, _ in hit] == ["abandon"]


def test_rephrase_within_the_window_flags_the_earlier_trace():
    roots = [
        {"trace_id": "t1", "session": "s", "start_time": T0, "text": "how do I reset my password"},
        {
            "trace_id": "t2",
            "session": "s",
            "start_time": T0 + timedelta(seconds=40),
            "text": "reset password how?",
        },
        {
            "trace_id": "t3",
            "session": "s",
            "start_time": T0 + timedelta(seconds=60),
            "text": "what is the weather",
        },
        {
            "trace_id": "t4",
            "session": "s",
            "start_time": T0 + timedelta(hours=2),
            "text": "what is the weather today",
        },
    ]
    out = flag_rules.rephrase_flags(roots, window_seconds=120, similarity=0.5)
    assert [t for t, _ in out] == ["t1"]


def test_input_text_skips_roles():
    inputs = {"messages": [{"role": "user", "content": "where is my refund"}]}
    assert flag_rules.input_text(inputs) == "where is my refund"


def test_drift_finds_big_uncovered_clusters():
    clusters = [(1, 90, ["billing", "p0"]), (2, 8, ["wrong"]), (3, 2, ["slow"])]
    cases = [["wrong", "retrieval_miss"]] * 30 + [["billing", "p0"]]
    found = drift.drifting(clusters, cases, traffic_min=0.05, eval_max=0.02)
    # Cluster 1: 90 % of traffic, 1/31 ≈ 3 % of cases: covered enough. Cluster 2 is covered.
    assert found == []
    found = drift.drifting(clusters, cases[:30] + [["other"]] * 20, traffic_min=0.05, eval_max=0.02)
    assert found == [(1, 0.9, 0.0)]
    sample = drift.sample_ids(range(100), 5, seed=1)
    assert sample == drift.sample_ids(list(reversed(range(100))), 5, seed=1)
    assert len(sample) == 5


def test_max_tokens_from_the_normalized_stop_reason_column():
    hit = flag_rules.trace_flags([run(stop_reason="max_tokens")], enabled=ALL)
    assert [r for r, _ in hit] == ["max_tokens"]
