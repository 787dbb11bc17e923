"""Raw-text retention: old raw text gives way to scrubbed copies; the rest stays."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Max
from django.test import Client
from django.utils import timezone

from datasets.models import Case
from feedback.models import FeedbackEvent, Run, RunAttachment
from feedback.services import user_id_pseudonymize
from tests.factories import CaseFactory, FeedbackEventFactory, RunFactory
from triage.models import Cluster, PiiMapping, QueueItem, TriageRun
from triage.retention import raw_retention_purge, raw_retention_purge_all
from triage.scrubbing import queue_item_scrub
from triage.tasks import raw_retention_purge as raw_retention_purge_task

pytestmark = pytest.mark.django_db

MARIA = "I'm Maria Gonzalez, maria.gonzalez@example.com, refund please"


@pytest.fixture
def aged(project):
    """Evidence that arrived 40 days ago, reviewed and promoted; newer and unprocessed rows."""
    now = timezone.now()
    old = now - timedelta(days=40)
    cluster = Cluster.objects.create(project=project, fingerprint="refunds", category="billing")
    events = [
        FeedbackEventFactory(
            project=project, cluster=cluster, trace_id="t-old", comment=comment,
            metadata=metadata, received_at=old, processed_at=old,
        )
        for comment, metadata in [
            (MARIA, {"email": "maria.gonzalez@example.com", "plan": "pro"}),
            ("Maria Gonzalez again, still no refund", {}),
        ]
    ]  # fmt: skip
    run = RunFactory(
        project=project,
        run_id="t-old",
        name="refund_bot",
        inputs={"messages": [{"role": "user", "content": "Refund Maria Gonzalez please"}]},
        outputs={"answer": "Sent to maria.gonzalez@example.com"},
        received_at=old,
    )
    attachment = RunAttachment.objects.create(
        run=run, name="receipt.png", content_type="image/png", size=8, is_text=False,
        content=b"\x89PNG\r\n\x1a\n",
    )  # fmt: skip
    Cluster.objects.filter(pk=cluster.pk).update(event_count=2)
    item = queue_item_scrub(item=QueueItem.objects.create(project=project, cluster=cluster))
    PiiMapping.objects.filter(queue_item=item).update(created_at=old)
    case = CaseFactory(golden_set__project=project, input=item.scrubbed["traces"][0]["runs"][0])
    # The job has run since: it clustered the old events and checked the old run's trace.
    TriageRun.objects.create(
        project=project, status="done", run_watermark=Run.objects.aggregate(m=Max("pk"))["m"]
    )
    unchecked_run = RunFactory(project=project, inputs={"q": "Anna Schmidt"}, received_at=old)
    fresh_run = RunFactory(project=project, inputs={"q": "Anna Schmidt"})
    fresh = FeedbackEventFactory(
        project=project, comment="I'm Anna Schmidt", processed_at=now - timedelta(days=29)
    )
    unprocessed = FeedbackEventFactory(project=project, comment="I'm Anna Schmidt", received_at=old)
    return {
        "events": events, "run": run, "attachment": attachment, "item": item, "case": case,
        "cluster": cluster, "untouched_runs": [unchecked_run, fresh_run],
        "untouched_events": [fresh, unprocessed],
    }  # fmt: skip


def _snapshot(project):
    return (
        sorted(FeedbackEvent.objects.filter(project=project).values_list()),
        sorted(Run.objects.filter(project=project).values_list()),
        sorted((a.pk, bytes(a.content)) for a in RunAttachment.objects.all()),
        sorted((m.pk, bytes(m.original_encrypted)) for m in PiiMapping.objects.all()),
    )


def test_old_raw_text_gives_way_to_scrubbed_copies_and_the_rest_stays(project, aged):
    item_before = QueueItem.objects.get(pk=aged["item"].pk)
    case_before = Case.objects.filter(pk=aged["case"].pk).values("input", "expected").get()
    mappings = PiiMapping.objects.filter(queue_item=item_before).count()
    untouched_before = [
        (e.comment, e.metadata, e.raw_purged_at) for e in aged["untouched_events"]
    ] + [(r.inputs, r.outputs, r.raw_purged_at) for r in aged["untouched_runs"]]

    summary = raw_retention_purge(project=project)

    assert {k: summary[k] for k in ("comments", "runs", "attachments", "originals")} == {
        "comments": 2,
        "runs": 1,
        "attachments": 1,
        "originals": mappings,
    }
    first, second = (FeedbackEvent.objects.get(pk=e.pk) for e in aged["events"])
    for event in (first, second):
        assert "Maria" not in event.comment and "Gonzalez" not in event.comment
        assert event.raw_purged_at is not None
    assert "<PERSON>" in first.comment and "<EMAIL_ADDRESS>" in first.comment
    assert first.comment.endswith(", refund please")
    assert first.metadata == {"email": "<EMAIL_ADDRESS>", "plan": "pro"}
    run = Run.objects.get(pk=aged["run"].pk)
    assert "Maria" not in str(run.inputs) and "maria" not in str(run.outputs)
    assert run.inputs["messages"][0]["content"].startswith("Refund <PERSON>")
    attachment = RunAttachment.objects.get(pk=aged["attachment"].pk)
    assert (bytes(attachment.content), attachment.size, attachment.name) == (b"", 8, "receipt.png")
    assert not PiiMapping.objects.exclude(original_encrypted=b"").exists()
    assert PiiMapping.objects.count() == mappings  # placeholders keep their numbers

    # Scrubbed copies, clusters, counts, queue items and cases are as they were.
    item = QueueItem.objects.get(pk=item_before.pk)
    assert item.scrubbed == item_before.scrubbed and item.status == item_before.status
    assert Cluster.objects.get(pk=aged["cluster"].pk).event_count == 2
    assert FeedbackEvent.objects.filter(cluster=aged["cluster"]).count() == 2
    assert Case.objects.filter(pk=aged["case"].pk).values("input", "expected").get() == case_before
    # Newer rows, unprocessed events and runs the job has not checked are untouched.
    assert [
        (e.comment, e.metadata, e.raw_purged_at)
        for e in FeedbackEvent.objects.filter(
            pk__in=[e.pk for e in aged["untouched_events"]]
        ).order_by("pk")
    ] + [
        (r.inputs, r.outputs, r.raw_purged_at)
        for r in Run.objects.filter(pk__in=[r.pk for r in aged["untouched_runs"]]).order_by("pk")
    ] == untouched_before


def test_a_second_purge_changes_nothing_more(project, aged):
    raw_retention_purge(project=project)
    after_first = _snapshot(project)

    summary = raw_retention_purge(project=project)

    assert {
        k: summary[k] for k in ("comments", "runs", "attachments", "originals")
    } == dict.fromkeys(("comments", "runs", "attachments", "originals"), 0)
    assert _snapshot(project) == after_first


def test_small_batches_purge_everything_in_bounded_transactions(project, aged, settings):
    settings.TRIAGE_RETENTION_BATCH = 1
    summary = raw_retention_purge(project=project)
    assert (summary["comments"], summary["runs"]) == (2, 1)
    assert not FeedbackEvent.objects.filter(
        pk__in=[e.pk for e in aged["events"]], raw_purged_at__isnull=True
    ).exists()


def test_zero_days_keeps_raw_text_forever(project, aged, settings):
    settings.TRIAGE_RAW_RETENTION_DAYS = 0
    before = _snapshot(project)
    assert raw_retention_purge_task.apply().get() == {project.slug: None}
    assert _snapshot(project) == before


def test_reveal_and_download_after_the_purge_say_the_original_is_gone(project, aged, lead):
    lead.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    browser = Client()
    browser.force_login(lead)
    item = aged["item"]
    url = f"/p/{project.slug}/items/{item.pk}/pii/PERSON_1"
    assert "Maria Gonzalez" in browser.post(url).content.decode()  # before: the original

    raw_retention_purge(project=project)

    swapped = browser.post(url, headers={"HX-Request": "true"})
    page = browser.post(url)
    for response in (swapped, page):
        html = response.content.decode()
        assert response.status_code == 200, html
        assert "original deleted: raw text is kept 30 days" in html and "Maria" not in html
    download = browser.get(f"/p/{project.slug}/attachments/{aged['attachment'].pk}")
    assert download.status_code == 410
    assert "deleted: raw data is kept 30 days" in download.content.decode()
    # The reviewer's view no longer offers the download; re-scrubbing still works and
    # hands out no number twice.
    view = queue_item_scrub(item=QueueItem.objects.get(pk=item.pk)).scrubbed
    assert view["traces"][0]["runs"][0]["attachments"][0]["downloadable"] is False
    assert "Maria" not in str(view)


def test_healthz_shows_what_the_purge_did_today(client, project, aged):
    raw_retention_purge_all()
    body = client.get("/healthz").json()
    assert body["raw_retention"]["days"] == 30
    assert body["raw_retention"]["last_purge_at"] is not None
    purged = body["raw_retention"]["purged_last_day"]
    assert (purged["comments"], purged["runs"], purged["attachments"]) == (2, 1, 1)


def test_beat_and_the_embedded_runner_schedule_the_purge(settings):
    from triage.management.commands.periodic import _entries

    entry = settings.CELERY_BEAT_SCHEDULE["triage-raw-retention"]
    assert entry["task"] == "triage.raw_retention_purge"
    assert _entries()["triage-raw-retention"][0] == "triage.raw_retention_purge"


# --- the erasure scan's index -------------------------------------------------------------


def test_the_erasure_scan_has_an_index_on_what_it_filters(project):
    table = FeedbackEvent._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    assert constraints["feedback_user_hash_idx"]["columns"] == ["project_id", "user_hash"]
    # And the purge's own scan, by age over rows not purged yet.
    assert constraints["feedback_raw_kept_idx"]["columns"] == ["project_id", "received_at"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans are PostgreSQL's")
def test_the_erasure_query_uses_the_index_on_postgresql(project):
    FeedbackEvent.objects.bulk_create(
        FeedbackEvent(
            project=project,
            body_hash=f"h-{i}",
            comment="meh",
            user_hash=user_id_pseudonymize(project=project, user_id=f"u-{i % 2000}")
            if i % 3
            else "",
        )
        for i in range(20000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {FeedbackEvent._meta.db_table}")
    user_hash = user_id_pseudonymize(project=project, user_id="u-7")
    # The query user_data_erase runs (triage.erasure).
    plan = (
        FeedbackEvent.objects.filter(project=project, user_hash=user_hash)
        .values_list("pk", "cluster_id", "trace_id")
        .explain()
    )
    assert "feedback_user_hash_idx" in plan, plan
