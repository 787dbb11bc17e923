"""Erasure: an end user's data-subject request removes what they sent, and only that."""

import pytest
from django.test import Client

from feedback.models import FeedbackEvent, Run
from feedback.services import user_id_pseudonymize
from tests.factories import FeedbackEventFactory, RunFactory, api_key_for
from triage.models import Cluster, PiiMapping, QueueItem
from triage.pii import encryption
from triage.scrubbing import queue_item_scrub

pytestmark = pytest.mark.django_db


def _feedback(project, cluster, user_id, trace_id, comment):
    return FeedbackEventFactory(
        project=project,
        cluster=cluster,
        trace_id=trace_id,
        comment=comment,
        user_hash=user_id_pseudonymize(project=project, user_id=user_id),
    )


def _originals(item):
    return {
        encryption.decrypt(bytes(m.original_encrypted))
        for m in PiiMapping.objects.filter(queue_item=item)
    }


@pytest.fixture
def reviewed_cluster(project, other_project):
    """Anna and Bob complained about refunds; the cluster is in the queue, scrubbed."""
    cluster = Cluster.objects.create(project=project, fingerprint="refunds", category="billing")
    _feedback(project, cluster, "cust-anna", "t-anna", "I'm Anna Schmidt, anna@example.com")
    _feedback(project, cluster, "cust-anna", "t-shared", "Anna Schmidt again, still no refund")
    _feedback(project, cluster, "cust-bob", "t-shared", "Bob Miller here, same problem")
    RunFactory(project=project, run_id="t-anna", inputs={"question": "Refund for Anna Schmidt?"})
    RunFactory(project=project, run_id="t-shared", inputs={"question": "Where is my refund?"})
    # The same app user in another project is another project's data.
    _feedback(other_project, None, "cust-anna", "t-x", "Anna Schmidt at Globex")
    Cluster.objects.filter(pk=cluster.pk).update(event_count=3)
    item = queue_item_scrub(item=QueueItem.objects.create(project=project, cluster=cluster))
    assert {"Anna Schmidt", "anna@example.com", "Bob Miller"} <= _originals(item)
    return item


def test_erasure_removes_the_users_events_runs_and_originals_and_keeps_the_rest(
    project, other_project, reviewed_cluster
):
    admin = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})

    response = admin.post("/api/v1/erasures", {"user_id": "cust-anna"}, "application/json")

    assert response.status_code == 200
    assert response.json() == {"events_deleted": 2, "runs_deleted": 1, "queue_items_rescrubbed": 1}
    left = FeedbackEvent.objects.filter(project=project)
    assert [e.comment for e in left] == ["Bob Miller here, same problem"]
    # t-shared stays: it is Bob's evidence too.
    assert list(Run.objects.filter(project=project).values_list("run_id", flat=True)) == [
        "t-shared"
    ]
    item = QueueItem.objects.get(pk=reviewed_cluster.pk)
    assert item.cluster.event_count == 1
    assert [c["text"] for c in item.scrubbed["comments"]] == ["<PERSON_1> here, same problem"]
    assert _originals(item) == {"Bob Miller"}
    assert FeedbackEvent.objects.filter(project=other_project).count() == 1

    again = admin.post("/api/v1/erasures", {"user_id": "cust-anna"}, "application/json")
    assert again.json() == {"events_deleted": 0, "runs_deleted": 0, "queue_items_rescrubbed": 0}


def test_erasure_needs_the_admin_scope_and_a_user_id(project, reviewed_cluster):
    ingest = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['ingest'])}"})
    refused = ingest.post("/api/v1/erasures", {"user_id": "cust-anna"}, "application/json")
    assert refused.status_code == 403 and refused.json()["error"]

    admin = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})
    bad = admin.post("/api/v1/erasures", {"user": "cust-anna"}, "application/json")
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["user_id"]
    # A number is not the string the app sent: refused, not matched as "0".
    number = admin.post("/api/v1/erasures", {"user_id": 0}, "application/json")
    assert number.status_code == 400 and list(number.json()["fields"]) == ["user_id"]
    assert FeedbackEvent.objects.filter(project=project).count() == 3
