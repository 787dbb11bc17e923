"""The annotation queue's services: claim-next leases, heartbeat, release, expiry, labels."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from feedback.models import FeedbackEvent
from tests.factories import FeedbackEventFactory, MembershipFactory, QueueItemFactory
from triage import clustering, job, processing, selectors, services
from triage.models import Cluster, ClusterFacet, QueueItem
from triage.tasks import expire_leases


def make_items(project, n, score=None):
    return [
        QueueItemFactory(cluster__project=project, score=score if score is not None else float(i))
        for i in range(n)
    ]


@pytest.fixture
def reviewers(project):
    return [MembershipFactory(project=project, user__username=f"rev{i}").user for i in range(3)]


def test_claim_next_gives_the_highest_score_first_and_leases_it(project, reviewer, settings):
    settings.TRIAGE_LEASE_SECONDS = 600
    items = make_items(project, 3)

    item = services.queue_item_claim_next(project=project, user=reviewer)

    assert item.pk == items[2].pk  # score 2.0 is the best
    assert item.status == QueueItem.Status.CLAIMED
    assert item.claimed_by == reviewer
    left = (item.lease_expires_at - timezone.now()).total_seconds()
    assert 590 < left <= 600


def test_claim_next_returns_the_reviewers_live_lease_instead_of_a_second_item(project, reviewer):
    make_items(project, 3)
    first = services.queue_item_claim_next(project=project, user=reviewer)
    again = services.queue_item_claim_next(project=project, user=reviewer)
    assert again.pk == first.pk
    assert QueueItem.objects.filter(status="claimed").count() == 1


@pytest.fixture(params=["database's own", "conditional update"])
def claim_path(request, monkeypatch):
    """Run a test on the database's claim path and on the SQLite one (forced on PostgreSQL)."""
    if request.param == "conditional update":
        monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    return request.param


def test_claim_next_loads_the_lease_and_leaves_the_scrubbed_view_for_later(
    project, reviewer, claim_path
):
    make_items(project, 2)
    QueueItem.objects.update(scrubbed={"comments": [{"text": "big"}]})

    item = services.queue_item_claim_next(project=project, user=reviewer)
    again = services.queue_item_claim_next(project=project, user=reviewer)

    for got in (item, again):
        assert got.pk == QueueItem.objects.get(status="claimed").pk
        assert (got.status, got.claimed_by_id, got.version) == ("claimed", reviewer.pk, 1)
        assert "scrubbed" in got.get_deferred_fields()
        assert got.scrubbed == {"comments": [{"text": "big"}]}  # still there when asked for


def test_claim_next_does_not_hand_back_the_reviewers_expired_lease(project, reviewers, claim_path):
    items = make_items(project, 2)
    best = services.queue_item_claim_next(project=project, user=reviewers[0])
    QueueItem.objects.filter(pk=best.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    # Not expired by beat yet: the item is still "claimed", but the lease is over.
    item = services.queue_item_claim_next(project=project, user=reviewers[0])

    assert best.pk == items[1].pk
    assert item.pk == items[0].pk
    assert QueueItem.objects.filter(status="claimed", claimed_by=reviewers[0]).count() == 2


def test_claim_next_skips_items_leased_by_others(project, reviewers):
    make_items(project, 2)
    a = services.queue_item_claim_next(project=project, user=reviewers[0])
    b = services.queue_item_claim_next(project=project, user=reviewers[1])
    c = services.queue_item_claim_next(project=project, user=reviewers[2])
    assert a.pk != b.pk
    assert c is None


def test_claim_next_stays_inside_the_project(project, other_project, reviewer):
    make_items(other_project, 2)
    assert services.queue_item_claim_next(project=project, user=reviewer) is None


def test_claim_next_on_the_conditional_update_path_never_double_claims(
    project, reviewers, monkeypatch
):
    """The SQLite path (a conditional UPDATE), forced on whichever database runs the test."""
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    make_items(project, 2)
    claimed = [services.queue_item_claim_next(project=project, user=u) for u in reviewers]
    assert claimed[2] is None
    assert claimed[0].pk != claimed[1].pk
    assert claimed[0].claimed_by == reviewers[0]


def test_heartbeat_extends_only_the_holders_lease(project, reviewers, settings):
    settings.TRIAGE_LEASE_SECONDS = 60
    make_items(project, 1)
    item = services.queue_item_claim_next(project=project, user=reviewers[0])
    QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now())

    assert services.queue_item_heartbeat(item=item, user=reviewers[1]) is False
    assert services.queue_item_heartbeat(item=item, user=reviewers[0]) is True
    item.refresh_from_db()
    assert item.lease_expires_at > timezone.now() + timedelta(seconds=50)


def test_skip_returns_the_item_as_skipped_and_only_for_the_holder(project, reviewers):
    make_items(project, 1)
    item = services.queue_item_claim_next(project=project, user=reviewers[0])

    assert services.queue_item_skip(item=item, user=reviewers[1]) is False
    assert services.queue_item_skip(item=item, user=reviewers[0]) is True
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.lease_expires_at) == ("skipped", None, None)
    # With nothing else waiting, a skipped item is still claimable.
    assert services.queue_item_claim_next(project=project, user=reviewers[1]).pk == item.pk


def test_claim_skip_claim_hands_out_the_next_item_and_skipped_ones_last(project, reviewer):
    third, second, first = make_items(project, 3)  # scores 0, 1, 2: `first` ranks first
    assert services.queue_item_claim_next(project=project, user=reviewer).pk == first.pk
    services.queue_item_skip(item=first, user=reviewer)

    claimed = [services.queue_item_claim_next(project=project, user=reviewer).pk]
    services.queue_item_skip(item=QueueItem.objects.get(pk=claimed[0]), user=reviewer)
    claimed.append(services.queue_item_claim_next(project=project, user=reviewer).pk)

    assert claimed == [second.pk, third.pk]
    assert selectors.queue_status_counts(project=project)["skipped"] == 2
    # Once nothing is pending, the skipped items come back, best first.
    services.queue_item_skip(item=third, user=reviewer)
    assert services.queue_item_claim_next(project=project, user=reviewer).pk == first.pk


def test_expire_leases_task_returns_only_expired_items_to_the_queue(project, reviewers):
    make_items(project, 2)
    stale = services.queue_item_claim_next(project=project, user=reviewers[0])
    live = services.queue_item_claim_next(project=project, user=reviewers[1])
    QueueItem.objects.filter(pk=stale.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert expire_leases() == 1  # the periodic task (beat runs it every minute)

    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.claimed_by) == ("pending", None)
    assert (live.status, live.claimed_by) == ("claimed", reviewers[1])
    # An expired holder cannot renew a lease it lost.
    assert services.queue_item_heartbeat(item=stale, user=reviewers[0]) is False


def test_label_releases_the_lease_and_bumps_the_version(project, reviewer):
    make_items(project, 1)
    item = services.queue_item_claim_next(project=project, user=reviewer)

    services.queue_item_label(
        item=item,
        user=reviewer,
        version=item.version,
        decision="add_to_eval",
        failure_modes=["retrieval_miss", "faithfulness"],
        criteria="Must cite the refund policy.",
    )

    item.refresh_from_db()
    assert item.status == "labelled"
    assert item.claimed_by is None and item.lease_expires_at is None
    assert item.version == 2
    assert item.failure_modes == ["retrieval_miss", "faithfulness"]
    assert item.failure_mode == "retrieval_miss"
    assert item.labelled_by == reviewer


def test_a_stale_label_is_refused_and_the_newer_one_kept(project, reviewers):
    make_items(project, 1)
    item = QueueItem.objects.get()
    services.queue_item_claim(item=item, user=reviewers[0])
    services.queue_item_label(
        item=item, user=reviewers[0], version=1, decision="known_issue", notes="first"
    )

    with pytest.raises(services.StaleEdit, match="rev0 changed this item"):
        services.queue_item_label(
            item=item, user=reviewers[1], version=1, decision="expected_behaviour", notes="late"
        )

    item.refresh_from_db()
    assert (item.decision, item.notes, item.version) == ("known_issue", "first", 2)
    assert Cluster.objects.get().status == "known_issue"


def test_label_is_refused_while_another_reviewer_holds_the_lease(project, reviewers):
    make_items(project, 1)
    item = services.queue_item_claim_next(project=project, user=reviewers[0])
    with pytest.raises(services.NotClaimant, match="rev0 is reviewing"):
        services.queue_item_label(
            item=item, user=reviewers[1], version=item.version, decision="known_issue"
        )
    item.refresh_from_db()
    assert (item.status, item.decision) == ("claimed", "")


def test_a_pending_item_cannot_be_labelled_without_claiming_it(project, reviewer):
    (item,) = make_items(project, 1)
    with pytest.raises(services.NotClaimant, match="claim this item"):
        services.queue_item_label(item=item, user=reviewer, version=1, decision="known_issue")
    item.refresh_from_db()
    assert (item.status, item.decision, item.version) == ("pending", "", 1)


def test_a_label_after_the_lease_ran_out_is_refused(project, reviewers):
    (item,) = make_items(project, 1)
    services.queue_item_claim(item=item, user=reviewers[0])
    QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now())
    item.refresh_from_db()
    assert item.shown_status == "pending" and not item.lease_live

    with pytest.raises(services.NotClaimant, match="your lease expired"):
        services.queue_item_label(item=item, user=reviewers[0], version=1, decision="known_issue")
    # Anyone may claim it again, after which the label goes through.
    assert services.queue_item_claim(item=item, user=reviewers[1]) is True
    services.queue_item_label(item=item, user=reviewers[1], version=1, decision="known_issue")
    item.refresh_from_db()
    assert (item.status, item.labelled_by) == ("labelled", reviewers[1])


def test_claiming_an_item_someone_holds_fails_but_a_take_over_moves_the_lease(project, reviewers):
    (item,) = make_items(project, 1)
    assert services.queue_item_claim(item=item, user=reviewers[0]) is True
    assert services.queue_item_claim(item=item, user=reviewers[1]) is False

    assert services.queue_item_take_over(item=item, user=reviewers[2]) is True
    item.refresh_from_db()
    assert (item.status, item.claimed_by) == ("claimed", reviewers[2])
    with pytest.raises(services.NotClaimant, match="rev2 is reviewing"):
        services.queue_item_label(item=item, user=reviewers[0], version=1, decision="known_issue")
    services.queue_item_label(item=item, user=reviewers[2], version=1, decision="known_issue")
    # A labelled item is corrected through its version, not taken over.
    assert services.queue_item_take_over(item=item, user=reviewers[0]) is False


@pytest.mark.services  # row locks need PostgreSQL; SQLite serialises writers
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_claims_never_give_one_item_to_two_reviewers(project):
    """30 reviewer threads, each claiming and labelling in a loop on its own connection."""
    users = [MembershipFactory(project=project, user__username=f"t{i}").user for i in range(30)]
    make_items(project, 150, score=1.0)  # equal scores: everyone races for the same top rows
    claims = []
    lock = threading.Lock()
    errors = []
    start = threading.Barrier(len(users))

    def reviewer(user):
        try:
            start.wait()
            while True:
                item = services.queue_item_claim_next(project=project, user=user)
                if item is None:
                    return
                with lock:
                    claims.append((item.pk, user.pk))
                services.queue_item_label(
                    item=item, user=user, version=item.version, decision="known_issue"
                )
        except Exception as exc:  # surfaced below; a thread must not die silently
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reviewer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors
    per_item = Counter(pk for pk, _ in claims)
    assert len(per_item) == 150
    assert max(per_item.values()) == 1, "an item was claimed twice"
    assert QueueItem.objects.filter(status="labelled").count() == 150
    assert len({u for _, u in claims}) > 1  # the work really was spread over reviewers


def _filtered(project, **filters):
    items, _ = selectors.queue_items(project=project, filters=selectors.QueueFilters(**filters))
    return sorted(item.pk for item in items)


def test_model_and_prompt_hash_filters_follow_the_clusters_feedback(project):
    def event(comment, category, model, prompt_hash):
        return FeedbackEventFactory(
            project=project,
            comment=comment,
            category=category,
            model_id=model,
            prompt_hash=prompt_hash,
        )

    event("refund for my shoes order 123", "billing", "gpt-4o", "ph-refund")
    event("Refund for my shoes, order 555!!", "billing", "claude-3", "ph-refund")
    event("the bot told me to put glue on pizza", "unsafe", "gpt-4o", "ph-food")
    job.triage_job_execute(project=project, scrub=False)  # clusters, fills the queue
    refunds = QueueItem.objects.get(cluster__category="billing")
    glue = QueueItem.objects.get(cluster__category="unsafe")

    assert _filtered(project, model="claude-3") == [refunds.pk]
    assert _filtered(project, model="gpt-4o") == sorted([refunds.pk, glue.pk])
    assert _filtered(project, prompt_hash="ph-food") == [glue.pk]
    assert _filtered(project, model="claude-3", prompt_hash="ph-food") == []
    assert _filtered(project, model="no-such-model") == []

    # New feedback clustered on ingest brings its model with it at once.
    late = event("Bot says: put glue on my pizza?!", "unsafe", "llama-3", "ph-food")
    processing.feedback_process(event_ids=[late.pk])
    assert FeedbackEvent.objects.get(pk=late.pk).cluster_id == glue.cluster_id
    assert _filtered(project, model="llama-3") == [glue.pk]

    # Feedback that moves to another cluster (as drift samples do) takes its facets along.
    FeedbackEvent.objects.filter(model_id="claude-3").update(cluster=glue.cluster)
    clustering.cluster_stats_refresh(cluster_ids=[refunds.cluster_id, glue.cluster_id])
    assert _filtered(project, model="claude-3") == [glue.pk]
    assert set(
        ClusterFacet.objects.filter(cluster=refunds.cluster).values_list("kind", "value")
    ) == {("model", "gpt-4o"), ("prompt_hash", "ph-refund")}
