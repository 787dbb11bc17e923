"""Processing is told which projects got new events, once per window, not per request."""

import json

import pytest
from django.test import Client

from feedback import enqueue
from feedback.enqueue import processing_flush
from feedback.models import FeedbackEvent
from feedback.signals import feedback_committed
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_posts_within_one_window_are_announced_once_with_their_projects(
    project, other_project, settings, monkeypatch
):
    # Windows wide enough for 8 posts on a slow machine (production, embedded).
    monkeypatch.setattr(enqueue, "COALESCE_SECONDS", 2.0)
    settings.TRIAGE_EMBEDDED_PROCESS_DELAY = 2.0
    clients = [
        Client(headers={"Authorization": f"Bearer {api_key_for(owner)}"})
        for owner in (project, other_project)
    ]
    heard = []

    def record(sender, *, project_ids, **kwargs):
        heard.append(project_ids)

    feedback_committed.connect(record)
    try:
        for n, client in enumerate(clients * 4):
            events = [{"id": f"w-{n}-{i}", "rating": "down", "comment": "late"} for i in range(50)]
            response = client.post(
                "/api/v1/feedback",
                data=json.dumps({"events": events}),
                content_type="application/json",
            )
            assert response.status_code == 200, response.content
        processing_flush(timeout=120)
    finally:
        feedback_committed.disconnect(record)
    assert FeedbackEvent.objects.count() == 400
    assert heard == [sorted([project.pk, other_project.pk])]  # one task, not one per request
