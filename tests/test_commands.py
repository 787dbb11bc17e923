"""The operator commands API.md promises: create_api_key and triage_run."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from feedback.models import ApiKey
from tests.factories import FeedbackEventFactory
from triage.models import QueueItem

pytestmark = pytest.mark.django_db


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_create_api_key_prints_a_working_key_once_and_stores_only_its_hash(project):
    raw, note = _run("create_api_key", "--project", project.slug, "--scopes", "datasets:read")
    assert raw.startswith("tri_") and "not shown again" in note
    key = ApiKey.objects.get(project=project)
    assert key.scopes == ["datasets:read"] and raw not in key.key_hash and len(key.key_hash) == 64

    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/v1/golden-sets").status_code == 200
    refused = client.post("/api/v1/feedback", json.dumps({"rating": "down"}), "application/json")
    assert refused.status_code == 403  # right key, wrong scope


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--scopes", "ingest"], "No project 'nope'"),
        (["--project", "acme", "--scopes", "ingest,write"], "Unknown scopes ['write']"),
    ],
)
def test_create_api_key_refuses_unknown_projects_and_scopes(project, args, message):
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _run("create_api_key", *args)
    assert not ApiKey.objects.exists()


def test_triage_run_queues_the_projects_new_feedback(project):
    for _ in range(2):
        FeedbackEventFactory(
            project=project, category="unsafe", comment="told me to share a password"
        )
    out, _ = _run("triage_run", "--project", project.slug, "--no-scrub")
    assert out.startswith(f"{project.slug}: 2 events processed")
    assert "1 newly queued" in out
    item = QueueItem.objects.get(project=project)
    assert item.cluster.event_count == 2 and item.cluster.category == "unsafe"

    again, _ = _run("triage_run", "--project", project.slug, "--no-scrub")
    assert "0 events processed" in again and "0 newly queued" in again
    assert QueueItem.objects.filter(project=project).count() == 1


def test_triage_run_refuses_an_unknown_project(db):
    with pytest.raises(CommandError, match="No project 'ghost'"):
        _run("triage_run", "--project", "ghost")
