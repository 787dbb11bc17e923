"""A database migrated at the layout before the re-layering (Project, Membership and ApiKey
in the feedback app, the webhook outbox in datasets) migrates forward with every row intact:
the models moved app in Django's state only, their tables and rows stayed put."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import ApiKey, Membership, Project
from datasets.models import GoldenSet
from feedback.models import FeedbackEvent, FeedbackTokenRevocation, Run
from triage.models import Cluster, QueueItem
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("accounts", None),
    ("webhooks", None),
    ("feedback", "0006_run_attachments"),
    ("triage", "0006_cluster_facets"),
    ("datasets", "0003_webhooks"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_a_database_at_the_old_layout_migrates_forward_with_every_row_intact(
    django_user_model,
):
    old = _migrate(BEFORE)
    ct_before = ContentType.objects.filter(app_label="feedback", model="project").first()
    user = old.get_model("auth", "User").objects.create(username="rico")
    project = old.get_model("feedback", "Project").objects.create(slug="acme", name="Acme")
    old.get_model("feedback", "Membership").objects.create(project=project, user=user, role="lead")
    key = old.get_model("feedback", "ApiKey").objects.create(
        project=project, prefix="tri_abc", key_hash="h" * 64, scopes=["ingest"]
    )
    old.get_model("feedback", "FeedbackTokenRevocation").objects.create(
        token_hash="t" * 64, api_key=key, expires_at=timezone.now()
    )
    cluster = old.get_model("triage", "Cluster").objects.create(
        project=project, fingerprint="fp-1", category="billing", event_count=1
    )
    old.get_model("feedback", "FeedbackEvent").objects.create(
        project=project, client_id="fb-1", body_hash="b", comment="refund?", cluster=cluster
    )
    old.get_model("feedback", "Run").objects.create(project=project, run_id="r-1", trace_id="t-1")
    old.get_model("triage", "QueueItem").objects.create(project=project, cluster=cluster)
    old.get_model("datasets", "GoldenSet").objects.create(project=project, slug="refunds", name="R")
    endpoint = old.get_model("datasets", "WebhookEndpoint").objects.create(
        project=project, url="https://ci.example.com/h", secret="s", events=["p0.queued"]
    )
    old.get_model("datasets", "WebhookDelivery").objects.create(
        endpoint=endpoint, event="p0.queued", payload={"item_id": 1}
    )

    _migrate(_latest())

    project = Project.objects.get(slug="acme")
    assert Membership.objects.get(project=project).user.username == "rico"
    key = ApiKey.objects.get(project=project)
    assert (key.prefix, key.scopes) == ("tri_abc", ["ingest"])
    assert FeedbackTokenRevocation.objects.get().api_key == key
    event = FeedbackEvent.objects.get(project=project)
    assert (event.client_id, event.comment) == ("fb-1", "refund?")
    assert event.cluster.fingerprint == "fp-1"
    assert Run.objects.get(project=project).run_id == "r-1"
    assert QueueItem.objects.get(project=project).cluster == Cluster.objects.get(project=project)
    assert GoldenSet.objects.get(project=project).slug == "refunds"
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == WebhookEndpoint.objects.get(project=project)
    assert (delivery.status, delivery.payload) == ("pending", {"item_id": 1})
    # The content type moved with the model (same row), so permissions and admin history
    # still point at it.
    ct_after = ContentType.objects.get_for_model(Project)
    assert ct_before is not None and ct_after.pk == ct_before.pk
    assert not ContentType.objects.filter(app_label="feedback", model="project").exists()


def test_reveal_audit_rows_move_into_the_audit_log_and_back(django_user_model):
    """triage 0016 folds PiiRevealAudit into accounts.AuditEntry, keeping every row."""
    old = _migrate([("accounts", "0001_initial"), ("triage", "0015_weekly_decisions")])
    user = old.get_model("auth", "User").objects.create(username="lena")
    project = old.get_model("accounts", "Project").objects.create(slug="acme", name="Acme")
    cluster = old.get_model("triage", "Cluster").objects.create(
        project=project, fingerprint="fp", event_count=1
    )
    item = old.get_model("triage", "QueueItem").objects.create(project=project, cluster=cluster)
    at = timezone.now().replace(microsecond=0)
    reveals = old.get_model("triage", "PiiRevealAudit").objects
    reveals.create(queue_item=item, placeholder="<PERSON_1>", user=user, revealed_at=at)
    reveals.create(queue_item=item, placeholder="<EMAIL_ADDRESS_1>", user=user, revealed_at=at)

    _migrate(_latest())

    from accounts.models import AuditEntry

    rows = AuditEntry.objects.order_by("pk")
    assert [
        (r.action, r.actor, r.actor_user_id, r.project_id, r.target_type, r.target_id, r.at)
        for r in rows
    ] == [("pii.reveal", "lena", user.pk, project.pk, "queueitem", str(item.pk), at)] * 2
    assert [r.details for r in rows] == [
        {"placeholder": "<PERSON_1>"},
        {"placeholder": "<EMAIL_ADDRESS_1>"},
    ]

    back = _migrate([("triage", "0015_weekly_decisions")])
    assert back.get_model("triage", "PiiRevealAudit").objects.count() == 2
    _migrate(_latest())
