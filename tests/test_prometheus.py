"""GET /metrics: what an operator's Prometheus scrapes."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import FeedbackEventFactory, QueueItemFactory, RunFactory
from triage.models import Alert, TriageRun
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def _samples(response):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def test_metrics_reports_ingest_backlog_queue_jobs_webhooks_and_alerts(client, project):
    now = timezone.now()
    events = FeedbackEventFactory.create_batch(3, project=project)
    FeedbackEvent = type(events[0])
    FeedbackEvent.objects.filter(pk=events[0].pk).update(processed_at=now)
    FeedbackEvent.objects.filter(pk=events[1].pk).update(received_at=now - timedelta(minutes=30))
    run = RunFactory(project=project)
    QueueItemFactory.create_batch(2, cluster__project=project)
    QueueItemFactory(cluster__project=project, status="labelled")
    TriageRun.objects.create(
        project=project, kind="triage", status="done",
        started_at=now - timedelta(seconds=90), finished_at=now - timedelta(seconds=30),
    )  # fmt: skip
    endpoint, _ = webhook_endpoint_create(
        project=project, url="https://hooks.example.com/x", events=["alert.firing"]
    )
    WebhookDelivery.objects.create(endpoint=endpoint, event="alert.firing", payload={},
                                   status="failed")  # fmt: skip
    Alert.objects.create(project=project, rule="spend_velocity", summary="$", fired_at=now,
                         last_evaluated_at=now)  # fmt: skip

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    got = _samples(response)
    assert got[("triage_feedback_events_ingested_total", ())] == events[-1].pk
    assert got[("triage_runs_ingested_total", ())] == run.pk
    assert got[("triage_processing_backlog_events", ())] == 2
    assert 1800 <= got[("triage_processing_backlog_oldest_age_seconds", ())] < 1900
    assert got[("triage_queue_items", (("status", "pending"),))] == 2
    assert got[("triage_queue_items", (("status", "labelled"),))] == 1
    assert got[("triage_job_last_duration_seconds", (("kind", "triage"),))] == 60.0
    assert got[("triage_webhook_deliveries", (("status", "failed"),))] == 1
    assert got[("triage_alerts_firing", (("rule", "spend_velocity"),))] == 1


def test_metrics_wants_the_token_when_one_is_set(client, settings, db):
    settings.TRIAGE_METRICS_TOKEN = "s3cret"

    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and b"triage_processing_backlog_events 0.0" in ok.content
