"""`seed_demo` is README's first-run experience: it must work, and twice in a row."""

import hashlib
import io

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

from datasets.models import GoldenSetVersion
from feedback.models import FeedbackEvent, Run
from triage.models import PiiMapping, QueueItem

pytestmark = pytest.mark.django_db

# Values that stand in triage/demo_data.py's comments and traces.
DEMO_PII = ["Maria Gonzalez", "maria.gonzalez@example.com", "4111 1111 1111 1111",
            "+1 415-555-0134", "priya.raman@example.net", "5555 5555 5555 4444"]  # fmt: skip


def _seed():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_builds_the_loop_and_is_idempotent():
    first = _seed()
    counts = (FeedbackEvent.objects.count(), Run.objects.count(), QueueItem.objects.count())
    second = _seed()

    assert (FeedbackEvent.objects.count(), Run.objects.count(), QueueItem.objects.count()) == counts
    assert counts[0] >= 8 and counts[1] >= 8 and counts[2] >= 3
    version = GoldenSetVersion.objects.get(golden_set__slug="refunds")
    assert version.number == 1 and version.tags == ["prod"] and version.case_count >= 1
    key = next(line.split()[2] for line in first.splitlines() if "API key:" in line)
    assert f"API key:  {key}" in second  # the same key is printed on every run
    assert "lead / triage-demo" in first

    # The demo's PII reached neither the export nor the queue page, and the key pulls it.
    body = Client(headers={"Authorization": f"Bearer {key}"}).get(
        "/api/v1/golden-sets/refunds/versions/latest/cases.jsonl"
    )
    assert body.status_code == 200
    content = b"".join(body.streaming_content)
    assert body["ETag"] == f'"sha256:{hashlib.sha256(content).hexdigest()}"'
    assert PiiMapping.objects.exists()
    browser = Client()
    assert browser.login(request=HttpRequest(), username="lead", password="triage-demo")
    page = browser.get("/p/demo/queue/").content.decode()
    for value in DEMO_PII:
        assert value.encode() not in content
        assert value not in page


def test_the_demos_refund_complaints_are_one_cluster():
    """ "…order 48213… Maria Gonzalez" and "…order 51877… call me at <phone>" are one
    problem: order numbers, names and contact details do not split it."""
    _seed()
    refunds = FeedbackEvent.objects.filter(client_id__startswith="demo-fb-refund-")
    assert refunds.count() == 4
    assert len(set(refunds.values_list("cluster_id", flat=True))) == 1
    assert refunds.first().cluster_id is not None
