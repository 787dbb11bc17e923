"""Fixed means proven: results decide a cluster's status, and apps hear `cluster.fixed`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from datasets import services
from datasets.results import results_run_record
from tests.factories import CaseFactory, FeedbackEventFactory, GoldenSetFactory, queued_cluster
from triage.job import triage_job_execute
from triage.models import Cluster, QueueItem
from triage.proof import clusters_proof_check
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def promoted(project, lead):
    """A billing cluster with two complaints and two cases (one holdout), published."""
    item = queued_cluster(project, "billing", timezone.now() - timedelta(days=2))
    done = timezone.now()  # already clustered
    for n in (1, 2):
        FeedbackEventFactory(
            project=project, cluster=item.cluster, client_id=f"fb-{n}", processed_at=done
        )
    FeedbackEventFactory(
        project=project, cluster=item.cluster, client_id="auto:x", source="auto", processed_at=done
    )
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    for split in ("holdout", "dev"):
        CaseFactory(golden_set=golden_set, split=split, cluster=item.cluster, queue_item=item)
    other = queued_cluster(project, "wrong", timezone.now() - timedelta(days=1))
    CaseFactory(golden_set=golden_set, split="holdout", cluster=other.cluster)
    version = services.golden_set_version_publish(golden_set=golden_set, user=lead)
    webhook_endpoint_create(
        project=project, url="https://app.example.com/h", events=["cluster.fixed"]
    )
    return item, version


def _results(version, commit, **passed):
    results = [{"case_id": f"refunds-00{n}", "passed": p} for n, p in passed.items()]
    run, _ = results_run_record(version=version, results=results, commit=commit)
    return clusters_proof_check(
        golden_set_id=version.golden_set_id, case_ids=[r["case_id"] for r in results]
    )


def test_a_cluster_is_fixed_only_when_all_its_cases_pass_and_apps_hear_it(promoted):
    item, version = promoted
    cluster = item.cluster

    assert _results(version, "c1", **{"1": True, "2": False}) == []  # one still fails
    assert _results(version, "c2", **{"2": True}) == [(cluster.pk, "fixed")]
    cluster.refresh_from_db()
    assert (cluster.status, cluster.fixed_commit) == ("fixed", "c2")
    (delivery,) = WebhookDelivery.objects.filter(event="cluster.fixed")
    payload = delivery.payload
    assert payload["feedback_ids"] == ["fb-1", "fb-2"]  # what the app sent; no auto-flags
    assert payload["case_ids"] == ["refunds-001", "refunds-002"]
    assert (payload["cluster_id"], payload["commit"], payload["item_id"]) == (
        cluster.pk, "c2", item.pk
    )  # fmt: skip
    assert "comment" not in str(payload) and "user" not in payload
    assert _results(version, "c3", **{"1": True, "2": True}) == []  # announced once


def test_dev_cases_alone_do_not_prove_a_fix(project, lead):
    item = queued_cluster(project, "wrong", timezone.now())
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set, split="dev", cluster=item.cluster)
    version = services.golden_set_version_publish(golden_set=golden_set, user=lead)
    assert _results(version, "c1", **{"1": True}) == []
    assert Cluster.objects.get(pk=item.cluster_id).status == "open"


def test_a_failing_case_regresses_the_cluster_to_the_top_of_its_severity(promoted, project):
    item, version = promoted
    big = queued_cluster(project, "unsafe", timezone.now(), score=50.0)
    _results(version, "c1", **{"1": True, "2": True})
    QueueItem.objects.filter(pk=item.pk).update(status="labelled", decision="add_to_eval")

    assert _results(version, "c2", **{"1": False}) == [(item.cluster_id, "regressed")]

    item.refresh_from_db()
    assert (item.status, item.decision, item.cluster.status) == ("pending", "", "regressed")
    assert item.score == 51.0 and item.score > big.score  # above the other P0s
    assert "refunds-001 fails again at c2" in item.cluster.queue_reason


def test_complaints_after_a_fix_reopen_the_cluster(promoted, project):
    item, version = promoted
    _results(version, "c1", **{"1": True, "2": True})
    assert triage_job_execute(project=project, scrub=False)["requeued"] == 0
    # The same problem, reported again after the fix (clustered into it by ingest).
    now = timezone.now()
    FeedbackEventFactory(project=project, cluster=item.cluster, created_at=now, processed_at=now)

    assert triage_job_execute(project=project, scrub=False)["requeued"] == 1

    item.refresh_from_db()
    assert (item.cluster.status, item.status) == ("regressed", "pending")
    assert "1 new complaint(s) after the fix at c1" in item.cluster.queue_reason
