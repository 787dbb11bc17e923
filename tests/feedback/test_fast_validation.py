"""The ingest fast path (serializers.FastPath) must validate exactly like DRF's serializer.

For every input: the same validated data, or the same errors (field names, messages, codes).
The typical event must actually take the fast path, or the speed-up silently disappears.
"""

import pytest
from rest_framework.exceptions import ValidationError

from feedback.serializers import _SLOW, FastPath, FeedbackEventInput

TYPICAL = {
    "id": "ev-1",
    "trace_id": "trace-1",
    "run_id": "run-1",
    "user_id": "user-1@example.com",
    "rating": "down",
    "category": "billing",
    "comment": "I was charged twice for the same order.",
    "model_id": "gpt-4o-mini",
    "customer_tier": "pro",
    "locale": "en-US",
    "metadata": {"app_version": "2.4.1", "nested": {"tags": ["a", 1, None]}},
}


def typical(**changes):
    return {**TYPICAL, **changes}


def without(*names):
    return {k: v for k, v in TYPICAL.items() if k not in names}


CASES = [
    TYPICAL,
    {"rating": "up"},
    {"score": 0},
    {"score": 1},
    {"score": 0.25},
    {"score": -0.0},
    {"score": True},  # DRF takes a bool as 1.0: the fast path leaves that to DRF
    {"score": "0.5"},
    {"score": 1.5},
    {"score": -1},
    {"score": float("nan")},
    {"score": float("inf")},
    {"score": 10**400},
    {"score": None},
    {"score": []},
    {"rating": "down", "score": 0.5},
    without("rating"),  # neither rating nor score
    {},
    {"comment": "only a comment"},
    typical(comment="nul \x00 inside"),
    typical(trace_id="nul\x00"),
    typical(comment="lone \ud800 surrogate"),
    typical(user_id="a\udfffb"),
    typical(trace_id=" \ud83d "),
    typical(comment="paired 😀 emoji is fine"),
    typical(metadata={"k": "nul \x00"}),
    typical(metadata={"k\x00": 1}),
    typical(metadata={"k": ["\udc00"]}),
    typical(metadata={}),
    typical(metadata=[]),
    typical(metadata=None),
    typical(metadata="text"),
    typical(id="x" * 128),
    typical(id="x" * 129),
    typical(id=" " + "x" * 128 + " "),  # trimmed to 128: valid
    typical(id=""),
    typical(id="   "),
    typical(id=123),  # DRF coerces numbers to strings
    typical(id=1.5),
    typical(id=True),
    typical(id=None),
    typical(id=["a"]),
    typical(id={"a": 1}),
    typical(trace_id="  padded  "),
    typical(trace_id="   "),
    typical(trace_id=""),
    typical(trace_id=None),
    typical(comment="  kept as sent  "),
    typical(comment="   "),
    typical(comment="c" * 10_000),
    typical(comment="c" * 10_001),
    typical(user_id="u" * 257),
    typical(locale="l" * 33),
    typical(rating="DOWN"),
    typical(rating=""),
    typical(rating=None),
    typical(rating=1),
    typical(source="auto"),
    typical(source="bogus"),
    typical(category=""),
    typical(category="nope"),
    typical(category=" billing "),
    typical(created_at="2026-11-20T08:00:00Z"),
    typical(created_at="not a date"),
    typical(created_at=None),
    typical(unknown="field"),
    {"rating": "down", "zzz": 1, "aaa": 2},
    typical(comment="\x00", trace_id="t" * 200, score=3),  # several errors at once
    [],
    "event",
    None,
    42,
]


def outcome(validate, raw):
    try:
        return "valid", validate(raw)
    except ValidationError as exc:
        return "error", exc.detail, exc.get_codes()


@pytest.mark.parametrize("raw", CASES, ids=range(len(CASES)))
def test_fast_path_validates_exactly_like_drf(raw):
    fast = FastPath(FeedbackEventInput())
    expected = outcome(FeedbackEventInput().run_validation, raw)
    assert outcome(fast.run_validation, raw) == expected
    # The fast path alone either declines (DRF decides) or agrees with DRF.
    assert fast._fast(raw) is _SLOW or ("valid", fast._fast(raw)) == expected


def test_well_formed_events_take_the_fast_path():
    fast = FastPath(FeedbackEventInput())
    for raw in (TYPICAL, {"score": 0.5}, typical(trace_id="  padded  ", source="implicit")):
        assert fast._fast(raw) == FeedbackEventInput().run_validation(raw)
