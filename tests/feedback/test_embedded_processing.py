"""Embedded shape (no broker): processing runs in a background thread after the response,
never inside the request, and picks committed events up within a second."""

import json
import threading

import pytest
from django.test import Client

from feedback.enqueue import processing_flush
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import PRODUCTION_SHAPE, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(PRODUCTION_SHAPE, reason="the embedded shape processes in-process"),
]


def test_a_post_returns_before_processing_which_a_thread_then_does(project, settings):
    settings.TRIAGE_EMBEDDED_PROCESS_DELAY = 0.5  # so the unprocessed state is observable
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project)}"})
    response = client.post(
        "/api/v1/feedback",
        data=json.dumps({"id": "e-1", "rating": "down", "comment": "refund never came"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    event = FeedbackEvent.objects.get(client_id="e-1")
    assert event.processed_at is None and event.cluster_id is None  # not done in the request
    workers = [t for t in threading.enumerate() if t.name == "feedback-enqueue"]
    assert len(workers) == 1 and workers[0].is_alive()

    wait_for(
        lambda: FeedbackEvent.objects.filter(client_id="e-1", processed_at__isnull=False).exists(),
        timeout=120,  # the first batch loads the PII models
        what="the background thread to process the event",
    )
    event.refresh_from_db()
    assert event.cluster_id is not None


def test_processing_flush_waits_for_every_event_posted(project):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project)}"})
    for n in range(5):
        body = {"id": f"f-{n}", "rating": "down", "comment": f"wrong answer number {n}"}
        assert (
            client.post(
                "/api/v1/feedback", data=json.dumps(body), content_type="application/json"
            ).status_code
            == 201
        )
    processing_flush(timeout=120)
    assert not FeedbackEvent.objects.filter(processed_at__isnull=True).exists()
    assert FeedbackEvent.objects.filter(cluster__isnull=False).count() == 5
