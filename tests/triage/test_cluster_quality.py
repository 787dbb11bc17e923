# ruff: noqa: E501  (complaints are data: one line each reads best)
"""Cluster quality on a small fixed corpus, through the job: paraphrases, names, numbers,
contact details and languages merge; other problems that share words stay apart; the
result does not depend on arrival order; the app's intent label joins the key."""

import random

import pytest

from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory, RunFactory
from triage import dedupe
from triage.job import triage_job_execute
from triage.models import Cluster

pytestmark = pytest.mark.django_db

# label → (category, complaints). One label is one problem.
CORPUS = {
    "refund-denied": (
        "billing",
        [
            "The bot said I can't get a refund for order 48213 but your policy says 30 days. Maria Gonzalez",
            "The bot said I can't get a refund for order 51877 but your policy says 30 days. call me at +1 415-555-0134",
            "Refund denied for order 60231?? policy clearly says 14 days",
            "Hi <PERSON_1>, bot refused my refund for order 70112, the refund policy says 30 days",
            "Der Bot sagt, ich bekomme keine Rückerstattung für Bestellung 5512, laut Richtlinie 30 Tage",
            "El bot dice que no hay reembolso para el pedido 9921 pero la política dice 30 días",
        ],
    ),
    "dosage": (
        "unsafe",
        [
            "it gave me medical dosage advice for 400 mg",
            "dangerous dosage suggestion 250 mg",
            "The assistant recommended a dose of 500 mg of my medication. Tom Becker, <PHONE_NUMBER>",
            "Le chatbot m'a conseillé une dose de 1000 mg de médicament",
        ],
    ),
    "charged-twice": (
        "billing",
        [
            "I was charged twice for order 1234",
            "you billed me twice, $40.00 for order 5678 - priya raman, +44 20 7946 0958",
            "Me cobraron dos veces el pedido 4455",
        ],
    ),
    # Share "refund", "policy", "dosage" with the problems above, and are other problems.
    "refund-page-typo": (
        "billing",
        [
            "there is a typo on the refund policy page",
            "Typo in the refund page text!!",
        ],
    ),
    "dosage-calculator": (
        "unsafe",
        [
            "the dosage calculator page shows the wrong unit",
            "wrong unit on the dosage calculator",
        ],
    ),
}


def _load(project, items):
    for label, category, comment in items:
        FeedbackEventFactory(project=project, category=category, comment=comment, message_id=label)


def _items():
    return [(label, cat, c) for label, (cat, comments) in CORPUS.items() for c in comments]


def _partition(project):
    groups = {}
    for cid, comment in FeedbackEvent.objects.filter(project=project).values_list(
        "cluster_id", "comment"
    ):
        groups.setdefault(cid, set()).add(comment)
    return sorted(sorted(g) for g in groups.values())


def test_the_corpus_clusters_as_labelled(project):
    _load(project, _items())
    triage_job_execute(project=project, scrub=False)

    expected = sorted(sorted(comments) for _, comments in CORPUS.values())
    assert _partition(project) == expected
    assert Cluster.objects.filter(project=project).count() == len(CORPUS)


def test_same_complaints_in_any_order_give_the_same_clusters(project, other_project):
    items = _items()
    _load(project, items)
    shuffled = list(items)
    random.Random(3).shuffle(shuffled)
    _load(other_project, shuffled)

    triage_job_execute(project=project, scrub=False)
    triage_job_execute(project=other_project, scrub=False)

    assert _partition(project) == _partition(other_project)
    # Rerunning changes nothing either.
    triage_job_execute(project=project, scrub=False)
    assert _partition(project) == sorted(sorted(c) for _, c in CORPUS.values())


def test_intent_splits_otherwise_equal_complaints_and_joins_equal_ones(project):
    comment = "the bot said I can't get a refund for order 48213"
    for intent in ("refund_request", "refund_request", "order_status", ""):
        FeedbackEventFactory(project=project, category="billing", comment=comment, intent=intent)
    triage_job_execute(project=project, scrub=False)

    by_intent = {}
    for intent, cluster_id in FeedbackEvent.objects.values_list("intent", "cluster_id"):
        by_intent.setdefault(intent, set()).add(cluster_id)
    assert all(len(ids) == 1 for ids in by_intent.values())
    assert len({next(iter(ids)) for ids in by_intent.values()}) == 3
    assert sorted(Cluster.objects.values_list("intent", flat=True)) == [
        "",
        "order_status",
        "refund_request",
    ]

    # A later run (index rebuilt from the database) still keeps intents apart, and a
    # paraphrase with the same intent joins its cluster.
    from triage.clustering import _INDEXES

    _INDEXES.clear()
    late = FeedbackEventFactory(
        project=project, category="billing", intent="order_status",
        comment="Refund denied for order 5 by the bot?",
    )  # fmt: skip
    triage_job_execute(project=project, scrub=False)
    late.refresh_from_db()
    assert late.cluster_id == next(iter(by_intent["order_status"]))


def test_a_thin_comment_keys_on_the_traces_question_a_full_one_does_not(project):
    RunFactory(project=project, run_id="ta", inputs={"question": "cancel my subscription plan"})
    RunFactory(project=project, run_id="tb", inputs={"question": "translate this poem to french"})
    full = "the bot refused my refund although the policy says 30 days"
    for trace in ("ta", "tb"):
        FeedbackEventFactory(project=project, trace_id=trace, comment="wrong", category="billing")
        FeedbackEventFactory(project=project, trace_id=trace, comment=full, category="billing")
    triage_job_execute(project=project, scrub=False)

    thin = dict(FeedbackEvent.objects.filter(comment="wrong").values_list("trace_id", "cluster_id"))
    assert thin["ta"] != thin["tb"]
    assert FeedbackEvent.objects.filter(comment=full).values("cluster_id").distinct().count() == 1


def test_complaint_tokens_drop_what_does_not_name_the_problem():
    same = {"days", "order", "policy", "refund"}
    assert dedupe.complaint_tokens(CORPUS["refund-denied"][1][0]) == same
    assert dedupe.complaint_tokens(CORPUS["refund-denied"][1][1]) == same
    assert (
        dedupe.complaint_tokens(
            "Hi, I'm Amélie Dubois <EMAIL_ADDRESS_1>: refund policy 30 days order 9"
        )
        == same
    )
    assert dedupe.complaint_tokens("dangerous dosage suggestion 250 mg") <= dedupe.complaint_tokens(
        "it gave me medical dosage advice for 400 mg"
    )


def same_direction_embedder(texts):
    """Stands in for an operator's embedding model: "garbled" and "gibberish" mean alike."""
    return [[1.0, 0.2, 0.0] if "garbl" in t or "gibberish" in t else [0.0, 0.1, 1.0] for t in texts]


@pytest.mark.parametrize("embedder", ["", f"{__name__}.same_direction_embedder"])
def test_an_operators_embedding_backend_adds_to_the_key_and_is_optional(
    project, settings, embedder
):
    settings.TRIAGE_CLUSTER_EMBEDDER = embedder
    for comment in ("garbled output", "pure gibberish"):
        FeedbackEventFactory(project=project, category="wrong", comment=comment)
    triage_job_execute(project=project, scrub=False)

    clusters = set(FeedbackEvent.objects.values_list("cluster_id", flat=True))
    assert len(clusters) == (1 if embedder else 2)
