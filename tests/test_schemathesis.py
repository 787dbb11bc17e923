"""Fuzz every documented endpoint from the OpenAPI schema: no input may produce a 5xx."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from tests.factories import api_key_for

MAX_EXAMPLES = 15  # per operation: bounded so the suite stays fast

# Generating the schema touches no database, so it can load at collection time.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def key(project, settings):
    settings.TRIAGE_RATE_LIMIT = "0"
    # Calls go straight into the WSGI app on this thread: keep the test's DB connection
    # (and its transaction) open across requests, as django.test.Client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield api_key_for(project, scopes=["ingest", "datasets:read"])
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a CI failure reproduces locally
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_api_fail_with_5xx(case, key):
    response = case.call(headers={"Authorization": f"Bearer {key}"})
    case.validate_response(response, checks=[not_a_server_error])
