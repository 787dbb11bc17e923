"""Every promoted case says where it came from: thumbs-down, auto-flag rule or drift."""

from datetime import UTC, datetime

import pytest

from datasets.models import Case
from tests.factories import FeedbackEventFactory, GoldenSetFactory, queued_cluster
from triage.models import Cluster
from triage.services import queue_item_promote

pytestmark = pytest.mark.django_db

FIRST_SEEN = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _promote(project, lead, item):
    item.decision, item.status = "add_to_eval", "labelled"
    item.save()
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    return queue_item_promote(
        item=item, golden_set=golden_set, user=lead, input={"question": "Refund?"}
    )


@pytest.mark.parametrize(
    ("source", "metadata", "kind", "expected"),
    [
        ("explicit", {}, Cluster.Kind.ISSUE, "thumbs-down-2026-11-20"),
        ("auto", {"rule": "tool_error"}, Cluster.Kind.ISSUE, "auto-flag-tool_error-2026-11-20"),
        ("implicit", {"rule": "retry"}, Cluster.Kind.ISSUE, "auto-flag-retry-2026-11-20"),
        ("explicit", {}, Cluster.Kind.DRIFT_SAMPLE, "drift-2026-11-20"),
    ],
)
def test_promotion_names_the_source_of_the_cluster(project, lead, source, metadata, kind, expected):
    item = queued_cluster(project, "billing", FIRST_SEEN)
    Cluster.objects.filter(pk=item.cluster_id).update(kind=kind)
    item.cluster.refresh_from_db()
    FeedbackEventFactory(
        project=project, cluster=item.cluster, source=source, metadata=metadata,
        created_at=FIRST_SEEN,
    )  # fmt: skip
    case = _promote(project, lead, item)
    assert Case.objects.get(pk=case.pk).source == expected
    assert case.revisions.get().source == expected
