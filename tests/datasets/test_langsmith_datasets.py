"""CI with the real `langsmith` SDK against a live Triage: golden sets read as datasets, and
`evaluate()` runs on them with its scores stored as a results run — never as complaints."""

import datetime

import pytest
from langsmith import utils as ls_utils
from langsmith.evaluation import evaluate

from datasets import services
from datasets.models import CaseResult, ResultsRun
from datasets.results import case_status
from feedback.models import EvalScore, FeedbackEvent, Run, TracingSession
from tests.factories import CaseFactory, GoldenSetFactory
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def refunds(project, lead):
    """`refunds` v1 (tag prod) with 3 cases, then v2 with a 4th case (tag candidate)."""
    golden_set = GoldenSetFactory(project=project, slug="refunds", name="Refund bot")
    for n, question in enumerate(["refund after 20 days?", "refund a gift card?", "status?"]):
        CaseFactory(
            golden_set=golden_set,
            input={"question": question},
            expected={"answer": "yes" if n == 0 else "no"},
            split="holdout" if n < 2 else "dev",
        )
    v1 = services.golden_set_version_publish(golden_set=golden_set, user=lead, tags=["prod"])
    CaseFactory(golden_set=golden_set, input={"question": "new"}, split="dev")
    v2 = services.golden_set_version_publish(golden_set=golden_set, user=lead, tags=["candidate"])
    return golden_set, v1, v2


def test_sdk_reads_golden_sets_as_datasets_with_versions_tags_and_splits(ls_client, refunds):
    golden_set, v1, v2 = refunds
    client = ls_client()

    assert [d.name for d in client.list_datasets()] == ["refunds"]
    dataset = client.read_dataset(dataset_name="refunds")
    assert (dataset.name, dataset.description) == ("refunds", "Refund bot")
    assert dataset.example_count == 4
    assert client.has_dataset(dataset_name="refunds")
    assert not client.has_dataset(dataset_name="nope")
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.read_dataset(dataset_name="nope")

    latest = list(client.list_examples(dataset_name="refunds"))
    assert [e.metadata["case_id"] for e in latest] == [
        "refunds-001", "refunds-002", "refunds-003", "refunds-004"
    ]  # fmt: skip
    prod = list(client.list_examples(dataset_name="refunds", as_of="prod"))
    assert len(prod) == 3 and {e.dataset_id for e in prod} == {dataset.id}
    first = prod[0]
    assert first.inputs == {"question": "refund after 20 days?"}
    assert first.outputs == {"answer": "yes"}
    assert first.metadata["split"] == "holdout" and first.metadata["source"].startswith("thumbs")
    assert first.id == latest[0].id  # a case keeps its example id across versions
    holdout = list(client.list_examples(dataset_name="refunds", as_of="prod", splits=["holdout"]))
    assert [e.metadata["case_id"] for e in holdout] == ["refunds-001", "refunds-002"]
    assert [e.metadata["case_id"] for e in client.list_examples(
        dataset_name="refunds", limit=2, offset=1
    )] == ["refunds-002", "refunds-003"]  # fmt: skip
    # as_of a time: the version published by then.
    at_v1 = v1.published_at + (v2.published_at - v1.published_at) / 2
    assert len(list(client.list_examples(dataset_name="refunds", as_of=at_v1))) == 3

    versions = list(client.list_dataset_versions(dataset_name="refunds"))
    assert [v.tags for v in versions] == [["candidate"], ["prod"]]
    assert client.read_dataset_version(dataset_name="refunds", tag="prod").as_of == v1.published_at
    assert client.read_dataset_version(
        dataset_name="refunds", as_of=v2.published_at + datetime.timedelta(seconds=1)
    ).tags == ["candidate"]


def test_evaluate_stores_a_results_run_on_the_version_and_no_complaints(
    ls_client, refunds, celery_worker_process
):
    golden_set, v1, _ = refunds
    client = ls_client()

    def target(inputs):
        return {"answer": "yes" if "20 days" in inputs["question"] else "maybe"}

    def correct(outputs, reference_outputs):
        return {"key": "correct", "score": outputs["answer"] == reference_outputs["answer"]}

    evaluate(
        target,
        data=client.list_examples(dataset_name="refunds", as_of="prod"),
        evaluators=[correct],
        experiment_prefix="ci-refunds",
        client=client,
        max_concurrency=0,
    )
    client.flush()

    session = TracingSession.objects.get(project=golden_set.project)
    assert session.is_experiment and session.name.startswith("ci-refunds")
    assert (
        Run.objects.filter(session_id=str(session.session_id))
        .exclude(reference_example_id="")
        .count()
        == 3
    )
    assert EvalScore.objects.filter(key="correct").count() == 3
    assert not FeedbackEvent.objects.exists()  # evaluator scores are not user complaints

    # Built by a task (the worker, in the production shape) as the scores arrive.
    run = wait_for(
        lambda: ResultsRun.objects.filter(golden_set=golden_set, passed=1, failed=2).first(),
        what="the experiment's results run",
    )
    assert run.version == v1
    outcomes = dict(CaseResult.objects.filter(results_run=run).values_list("case_id", "passed"))
    assert outcomes == {"refunds-001": True, "refunds-002": False, "refunds-003": False}
    assert case_status(golden_set, ["refunds-001", "refunds-002", "refunds-004"]) == {
        "refunds-001": "passing", "refunds-002": "failing", "refunds-004": "never_run"
    }  # fmt: skip


def test_client_evaluate_on_a_slug_runs_the_latest_version(
    ls_client, refunds, celery_worker_process
):
    golden_set, _, v2 = refunds
    client = ls_client()
    client.evaluate(
        lambda inputs: {"answer": "no"},
        data="refunds",
        evaluators=[lambda outputs, reference_outputs: outputs == reference_outputs],
        experiment_prefix="nightly",
        max_concurrency=0,
    )
    client.flush()
    run = wait_for(
        lambda: ResultsRun.objects.filter(golden_set=golden_set, passed__gt=0).first(),
        what="the experiment's results run",
    )
    # v2 has 4 cases; "no" matches the expected answer of cases 2 and 3 only (case 4 has none).
    assert run.version == v2
    outcomes = dict(run.cases.values_list("case_id", "passed"))
    assert outcomes == {
        "refunds-001": False, "refunds-002": True, "refunds-003": True, "refunds-004": False
    }  # fmt: skip
    assert not FeedbackEvent.objects.exists()
