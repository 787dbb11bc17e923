"""GET /healthz: what a load balancer and an uptime check see."""

import pytest
from django.conf import settings

from tests.factories import FeedbackEventFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_broker_and_the_processing_backlog(client, project):
    """No login: load balancers and uptime checks call it."""
    FeedbackEventFactory.create_batch(2, project=project)  # stored, not processed yet

    response = client.get("/healthz")

    assert response.status_code == 200
    broker = "ok" if settings.REDIS_URL else "in-process"  # production shape vs embedded
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": broker,
        "unprocessed_events": 2,
    }


def test_healthz_with_the_broker_down_is_degraded_not_down(client, settings):
    """Ingest still stores every event without Redis, so balancers keep sending traffic."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["broker"] == "down"
