"""The triage job: clusters, ranking, capacity, known issues, auto-flags, drift, safety."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from datasets.models import Case, GoldenSet
from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory, ProjectFactory, RunFactory
from tests.support import ROOT, wait_for, worker_env
from triage.job import drift_check, triage_job_execute
from triage.models import Cluster, ClusterFingerprint, QueueItem, TriageRun
from triage.tasks import run_job

REFUNDS = [
    "refund for my shoes order 123",
    "How do I get a refund on the shoes, order 987?",
    "Refund for my shoes, order 555!!",
    "I want a refund for the shoes (order 42)",
]
GLUE = ["the bot told me to put glue on pizza", "Bot says: put glue on my pizza?!"]


def _events(project, comments, category="billing", **kw):
    return [
        FeedbackEventFactory(project=project, comment=c, category=category, **kw) for c in comments
    ]


def _partition(project):
    """The clustering as sets of comments: independent of cluster ids."""
    groups = {}
    for cid, comment in FeedbackEvent.objects.filter(
        project=project, cluster__isnull=False
    ).values_list("cluster_id", "comment"):
        groups.setdefault(cid, set()).add(comment)
    return sorted(sorted(g) for g in groups.values())


def _queue(project):
    return sorted(
        sorted(FeedbackEvent.objects.filter(cluster=item.cluster).values_list("comment", flat=True))
        for item in QueueItem.objects.filter(project=project)
    )


@pytest.mark.django_db
def test_near_duplicates_join_one_cluster_and_other_problems_do_not(project):
    _events(project, REFUNDS)
    _events(project, GLUE, category="unsafe")
    _events(project, ["refund for my shoes order 9"], category="wrong")  # category is key

    summary = triage_job_execute(project=project, scrub=False)

    assert _partition(project) == sorted(
        [sorted(REFUNDS), sorted(GLUE), ["refund for my shoes order 9"]]
    )
    refunds = Cluster.objects.get(category="billing")
    assert refunds.event_count == 4
    assert refunds.minhash is not None
    assert summary["events"] == 7 and summary["queued"] == 3
    # The four phrasings reduce to the same canonical words ("refund", "shoe", "order"):
    # one exact key, no MinHash comparison needed.
    assert ClusterFingerprint.objects.filter(cluster=refunds).count() == 1


@pytest.mark.django_db
def test_the_root_input_is_part_of_the_key(project):
    RunFactory(project=project, run_id="ta", inputs={"question": "cancel my subscription plan"})
    RunFactory(project=project, run_id="tb", inputs={"question": "translate this poem to french"})
    RunFactory(project=project, run_id="tc", inputs={"question": "please cancel subscription plan"})
    for trace in ("ta", "tb", "tc"):
        FeedbackEventFactory(project=project, trace_id=trace, comment="wrong answer")

    triage_job_execute(project=project, scrub=False)

    by_trace = dict(FeedbackEvent.objects.values_list("trace_id", "cluster_id"))
    assert by_trace["ta"] == by_trace["tc"] != by_trace["tb"]


@pytest.mark.django_db
def test_incremental_runs_join_existing_clusters_and_reruns_change_nothing(project):
    _events(project, REFUNDS[:2])
    triage_job_execute(project=project, scrub=False)
    cluster = Cluster.objects.get()
    item = QueueItem.objects.get()

    _events(project, REFUNDS[2:])
    summary = triage_job_execute(project=project, scrub=False)
    assert summary["events"] == 2
    assert Cluster.objects.get().pk == cluster.pk
    assert Cluster.objects.get().event_count == 4
    assert QueueItem.objects.get().pk == item.pk
    assert QueueItem.objects.get().score == Cluster.objects.get().score

    before = (_partition(project), _queue(project), ClusterFingerprint.objects.count())
    again = triage_job_execute(project=project, scrub=False)
    assert again["events"] == 0 and again["queued"] == 0
    assert (_partition(project), _queue(project), ClusterFingerprint.objects.count()) == before
    assert TriageRun.objects.filter(status="done").count() == 3


@pytest.mark.django_db
def test_per_event_processing_matches_the_batch_job(project):
    from triage.processing import feedback_process

    events = _events(project, REFUNDS + GLUE)
    feedback_process(event_ids=[e.pk for e in events[:3]])
    feedback_process(event_ids=[e.pk for e in events[3:]])
    assert _partition(project) == sorted([sorted(REFUNDS), sorted(GLUE)])


@pytest.mark.django_db
def test_closed_clusters_are_not_joined(project):
    _events(project, REFUNDS[:1])
    triage_job_execute(project=project, scrub=False)
    Cluster.objects.update(status=Cluster.Status.CLOSED)
    _events(project, REFUNDS[:1])  # the very same text comes back
    triage_job_execute(project=project, scrub=False)
    assert Cluster.objects.count() == 2
    assert Cluster.objects.filter(status="open").get().event_count == 1


@pytest.mark.django_db
def test_daily_capacity_queues_only_the_top_new_clusters(project, settings):
    settings.TRIAGE_DAILY_CAPACITY = 2
    _events(project, ["the map shows the wrong city"] * 5, category="wrong")
    _events(project, ["charged twice for one order"] * 2, category="billing")
    _events(project, ["answer was very slow to arrive"], category="slow")
    _events(project, ["invented a fake citation"], category="wrong", customer_tier="free")

    triage_job_execute(project=project, scrub=False)
    queued = set(QueueItem.objects.values_list("cluster__category", "cluster__event_count"))
    # billing is P0 (×3): 2 reports × P0 beats 5 × P1; then the 5-report cluster.
    assert queued == {("billing", 2), ("wrong", 5)}
    b = Cluster.objects.get(category="billing").score_breakdown
    assert b["severity"] == "P0" and b["tier"] == "pro" and b["sla_hours_left"] > 71
    assert b["summary"].startswith("2 reports × pro × P0, ")

    triage_job_execute(project=project, scrub=False)  # same day: no room left
    assert QueueItem.objects.count() == 2


@pytest.mark.django_db
def test_known_issue_counts_new_evidence_and_requeues_on_a_regression(project):
    _events(project, REFUNDS[:1])
    triage_job_execute(project=project, scrub=False)
    cluster = Cluster.objects.get()
    QueueItem.objects.update(status="labelled", decision="known_issue")
    Cluster.objects.update(status=Cluster.Status.KNOWN_ISSUE)
    triage_job_execute(project=project, scrub=False)  # sets the baseline

    _events(project, REFUNDS[1:3])
    triage_job_execute(project=project, scrub=False)
    cluster.refresh_from_db()
    assert cluster.status == "known_issue" and cluster.event_count == 3
    assert QueueItem.objects.get().status == "labelled"

    _events(project, REFUNDS * 2)  # 8 more in a day: a regression
    summary = triage_job_execute(project=project, scrub=False)
    cluster.refresh_from_db()
    item = QueueItem.objects.get()
    assert summary["requeued"] == 1
    assert cluster.status == "open" and cluster.queue_reason.startswith("regression")
    assert item.status == "pending" and item.decision == ""
    assert cluster.score_breakdown["reason"] == cluster.queue_reason
    assert triage_job_execute(project=project, scrub=False)["requeued"] == 0


@pytest.mark.django_db
def test_auto_flags_one_event_per_rule_and_trace(project):
    RunFactory(project=project, run_id="t1", inputs={"question": "summarize the contract"})
    RunFactory(
        project=project,
        run_id="t1-llm",
        trace_id="t1",
        parent_run_id="t1",
        run_type="llm",
        outputs={"choices": [{"finish_reason": "length"}]},
    )
    RunFactory(project=project, run_id="t2", inputs={"question": "book a flight"})
    now = timezone.now()
    for i in range(2):
        RunFactory(
            project=project,
            run_id=f"t2-tool{i}",
            trace_id="t2",
            parent_run_id="t2",
            run_type="tool",
            error="HTTP 503",
            start_time=now + timedelta(seconds=i),
        )
    RunFactory(project=project, run_id="t3", inputs={"question": "fine"})

    triage_job_execute(project=project, scrub=False)
    triage_job_execute(project=project, scrub=False)  # idempotent

    flagged = FeedbackEvent.objects.filter(source="auto")
    assert sorted(flagged.values_list("trace_id", "metadata__rule")) == [
        ("t1", "max_tokens"),
        ("t2", "tool_errors"),
    ]
    assert all(e.cluster_id and e.rating == "down" for e in flagged)


@pytest.mark.django_db
def test_rephrase_is_an_implicit_negative_and_rules_switch_off(project, settings):
    t0 = timezone.now()
    for i, q in enumerate(["how do I reset my password", "reset my password how??"]):
        RunFactory(
            project=project,
            run_id=f"s{i}",
            inputs={"question": q},
            metadata={"session_id": "sess-1"},
            start_time=t0 + timedelta(seconds=30 * i),
        )
    settings.TRIAGE_AUTO_FLAGS = {"rephrase": False}
    triage_job_execute(project=project, scrub=False)
    assert not FeedbackEvent.objects.exists()

    settings.TRIAGE_AUTO_FLAGS = {"rephrase": True}
    TriageRun.objects.all().delete()  # the watermark would skip these runs
    triage_job_execute(project=project, scrub=False)
    event = FeedbackEvent.objects.get()
    assert (event.source, event.trace_id, event.session_id) == ("implicit", "s0", "sess-1")


@pytest.mark.django_db
def test_drift_queues_samples_of_big_uncovered_clusters_once(project, settings, lead):
    settings.TRIAGE_DRIFT_SAMPLE_SIZE = 3
    _events(project, REFUNDS * 5)  # 20 billing reports
    _events(project, GLUE, category="unsafe")
    golden = GoldenSet.objects.create(project=project, slug="main", name="Main")
    for n in range(10):
        Case.objects.create(
            golden_set=golden,
            number=n,
            case_id=f"c{n}",
            input={},
            tags=["unsafe", "p0"],
            source="x",
        )
    triage_job_execute(project=project, scrub=False)

    result = drift_check(project=project)
    assert result == {"drifting": 1, "queued": 3}  # unsafe is covered by eval cases
    samples = Cluster.objects.filter(kind="drift_sample")
    assert samples.count() == 3
    assert all(s.parent.category == "billing" and s.event_count == 1 for s in samples)
    assert QueueItem.objects.filter(cluster__kind="drift_sample").count() == 3
    assert samples[0].queue_reason.startswith("drift: ")

    assert drift_check(project=project)["queued"] == 0
    triage_job_execute(project=project, scrub=False)
    assert Cluster.objects.filter(kind="drift_sample").count() == 3


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_run_job_on_a_real_worker_records_progress(celery_worker_process, project):
    _events(project, REFUNDS + GLUE)
    run = TriageRun.objects.create(project=project)
    run_job.delay(project_id=project.pk, triage_run_id=run.pk)
    wait_for(
        lambda: TriageRun.objects.get(pk=run.pk).status == "done", timeout=120, what="run done"
    )
    run.refresh_from_db()
    assert run.done == run.total == 6
    assert run.summary["queued"] == 2
    assert _partition(project) == sorted([sorted(REFUNDS), sorted(GLUE)])
    assert QueueItem.objects.filter(project=project).exclude(scrubbed={}).count() == 2


def _bulk_events(project, n):
    words = ["shoes", "jacket", "laptop", "phone", "lamp", "desk", "watch", "bag"]
    FeedbackEvent.objects.bulk_create(
        FeedbackEvent(
            project=project,
            body_hash=f"{project.pk}-{i}",
            category="billing" if i % 3 else "wrong",
            comment=[
                f"refund for my {words[i % 8]} order {i}",
                f"how do I get a refund on the {words[i % 8]}, order {i * 7}",
                f"the {words[i % 8]} page shows a wrong price of {i} dollars",
                f"unique complaint number {i} about {words[i % 8]} {words[(i // 8) % 8]} {i % 13}",
            ][i % 4],
            rating="down",
            customer_tier="pro",
        )
        for i in range(n)
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_then_rerun_leaves_the_same_clusters_and_queue(tmp_path):
    reference = ProjectFactory(slug="reference")
    killed = ProjectFactory(slug="killed")
    _bulk_events(reference, 4000)
    _bulk_events(killed, 4000)
    triage_job_execute(project=reference, scrub=False)

    env = worker_env() | {"TRIAGE_JOB_BATCH": "20"}  # many small batches: a wide window to kill in
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "-Q", "triage-kill-test", "--without-gossip", "--without-mingle", "-n", "kill@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        run = TriageRun.objects.create(project=killed)
        run_job.apply_async(
            kwargs={"project_id": killed.pk, "triage_run_id": run.pk}, queue="triage-kill-test"
        )
        wait_for(
            lambda: TriageRun.objects.get(pk=run.pk).done >= 400, interval=0.01, what="progress"
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()
    time.sleep(0.2)
    run.refresh_from_db()
    assert run.status == "running" and 400 <= run.done < 4000, (run.status, run.done)

    triage_job_execute(project=killed, scrub=False)  # the rerun (acks_late would redeliver it)
    triage_job_execute(project=killed, scrub=False)

    run.refresh_from_db()
    assert run.status == "interrupted"
    assert _partition(killed) == _partition(reference)
    assert _queue(killed) == _queue(reference)
    assert not FeedbackEvent.objects.filter(project=killed, processed_at__isnull=True).exists()


def test_beat_schedules_the_nightly_job_and_the_weekly_drift(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["triage-nightly"]["task"] == "triage.run_all_projects"
    assert schedule["triage-drift-weekly"]["task"] == "triage.drift_all_projects"


@pytest.mark.django_db
def test_lead_button_records_a_run_and_the_queue_polls_its_progress(client, project, lead):
    client.force_login(lead)
    response = client.post(f"/p/{project.slug}/queue/run")
    assert response.status_code == 302
    run = TriageRun.objects.get()
    assert run.requested_by == lead
    assert run.status in {"queued", "done"}  # done at once in the embedded shape

    TriageRun.objects.filter(pk=run.pk).update(status="running", phase="cluster", done=40, total=80)
    page = client.get(f"/p/{project.slug}/queue/run/progress", headers={"HX-Request": "true"})
    html = page.content.decode()
    assert "running · cluster · 40/80 events (50 %)" in html
    assert 'hx-trigger="every 1s"' in html

    TriageRun.objects.filter(pk=run.pk).update(status="done", summary={"events": 80, "queued": 3})
    html = client.get(f"/p/{project.slug}/queue/run/progress").content.decode()
    assert "80 new events since the last run, 3 newly queued" in html
    assert "every 1s" not in html  # finished: polling stops
    assert (
        'hx-get="/p/acme/queue/run/progress"'
        in client.get(f"/p/{project.slug}/queue/").content.decode()
    )


@pytest.mark.django_db
def test_lead_button_reports_an_unreachable_broker_instead_of_hanging(client, project, lead):
    from unittest import mock

    from kombu.exceptions import OperationalError

    client.force_login(lead)
    # The broker is outside this test's control; simulate its refusal at the publish call.
    with mock.patch.object(run_job, "apply_async", side_effect=OperationalError("refused")):
        response = client.post(f"/p/{project.slug}/queue/run", follow=True)
    assert response.status_code == 200
    assert "The task queue is unreachable; the job did not start." in response.content.decode()
    run = TriageRun.objects.get()
    assert (run.status, run.error) == ("failed", "The task queue is unreachable.")
    assert run.finished_at is not None


def test_an_unsafe_p0_from_one_free_user_ranks_above_a_big_enterprise_p1(project):
    FeedbackEventFactory(
        project=project, category="unsafe", customer_tier="free", comment="told me to mix bleach"
    )
    for _ in range(40):
        FeedbackEventFactory(
            project=project,
            category="slow",
            customer_tier="enterprise",
            comment="the answer took forever to load",
        )
    triage_job_execute(project=project, scrub=False)
    order = list(
        QueueItem.objects.filter(project=project)
        .order_by("-score", "-pk")
        .values_list("cluster__category", flat=True)
    )
    assert order == ["unsafe", "slow"]
