"""GET /healthz and the HTTPS deployment settings: what a load balancer and an uptime check see."""

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.factories import FeedbackEventFactory
from tests.support import ROOT

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
        "raw_retention": {  # the purge has not run yet
            "days": 30,
            "last_purge_at": None,
            "purged_last_day": {"comments": 0, "runs": 0, "attachments": 0, "originals": 0},
        },
        "rate_limit": "redis" if settings.REDIS_URL else "database",  # shared by processes
    }


def test_healthz_with_the_broker_down_is_degraded_not_down(client, settings):
    """Ingest still stores every event without Redis, so balancers keep sending traffic."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["broker"] == "down"


def test_the_https_deployment_passes_djangos_deploy_checks(tmp_path):
    # A deployment's environment, not this test run's (which allows async-unsafe calls).
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(
        DEBUG="0",
        TRIAGE_HTTPS="1",
        SECURE_HSTS_SECONDS="31536000",
        SECRET_KEY="x" * 20 + secrets.token_urlsafe(40),
        ALLOWED_HOSTS="triage.example.com",
        TRIAGE_DATA_DIR=str(tmp_path),
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_behind_tls_plain_http_is_redirected_except_the_health_check(settings):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # middleware reads the settings when the client builds its handler

    assert client.get("/healthz").status_code == 200
    login = client.get("/accounts/login/")
    assert login.status_code == 301
    assert login["Location"] == "https://testserver/accounts/login/"


def test_healthz_is_degraded_when_the_oldest_backlog_event_is_too_old(client, project, settings):
    settings.TRIAGE_BACKLOG_MAX_AGE_SECONDS = 600
    now = timezone.now()
    FeedbackEventFactory(project=project, received_at=now - timedelta(seconds=1200))
    FeedbackEventFactory(project=project, received_at=now)
    FeedbackEventFactory(
        project=project, received_at=now - timedelta(days=3), processed_at=now
    )  # handled long ago: not backlog

    body = client.get("/healthz").json()

    assert body["status"] == "degraded" and body["unprocessed_events"] == 2
    assert 1200 <= body["backlog_oldest_age_seconds"] <= 1260


def test_healthz_stays_ok_while_the_backlog_is_young(client, project, settings):
    settings.TRIAGE_BACKLOG_MAX_AGE_SECONDS = 600
    FeedbackEventFactory(project=project, received_at=timezone.now() - timedelta(seconds=60))

    body = client.get("/healthz").json()

    assert body["status"] == "ok" and body["unprocessed_events"] == 1
    assert "backlog_oldest_age_seconds" not in body
