"""Writes for the triage workflow: the queue (claim, lease, skip), labels, failure modes,
and promoting a labelled item into a golden-set case."""

import functools
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from datasets.models import Case
from datasets.services import case_create
from webhooks.services import webhook_emit

from .models import Cluster, FailureMode, QueueItem
from .scrubbing import pii_rescrub
from .webhook_events import queue_item_labelled_payload


class StaleEdit(Exception):
    """The item changed since the reviewer loaded it."""


class NotClaimant(Exception):
    """The reviewer does not hold this item's lease."""


class PromoteError(Exception):
    pass


# --- the queue --------------------------------------------------------------------------
# Sort order everywhere: score desc, id desc (matches queue_next_idx / queue_all_idx).
QUEUE_ORDER = ("-score", "-pk")
# What claim-next loads: the lease, not `scrubbed` (large; the item page reads it).
CLAIM_FIELDS = (
    "id",
    "project_id",
    "cluster_id",
    "status",
    "score",
    "claimed_by_id",
    "lease_expires_at",
    "version",
)


def _lease_until(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.TRIAGE_LEASE_SECONDS)


@functools.cache
def _claim_next_sql():
    """PostgreSQL claim-next as one statement, one round trip, one commit.

    `held`: the reviewer's own live lease, handed back instead of a second item. `leased`:
    otherwise the best pending row no other transaction has locked (SKIP LOCKED: 20
    reviewers pressing "claim" at once get 20 different rows without waiting on each
    other), leased in the same UPDATE. `NOT EXISTS (held)` is a one-time filter evaluated
    first, so a reviewer who holds a lease locks nothing. Statuses are literals so even a
    generic plan knows them.
    """
    table = connection.ops.quote_name(QueueItem._meta.db_table)
    cols = ", ".join(CLAIM_FIELDS)
    claimed, pending = QueueItem.Status.CLAIMED.value, QueueItem.Status.PENDING.value
    return (
        f"WITH held AS ("
        f" SELECT {cols} FROM {table}"
        f" WHERE project_id = %(project)s AND status = '{claimed}'"
        f" AND claimed_by_id = %(user)s AND lease_expires_at > %(now)s"
        f" ORDER BY score DESC, id DESC LIMIT 1"
        f"), leased AS ("
        f" UPDATE {table} SET status = '{claimed}', claimed_by_id = %(user)s,"
        f" lease_expires_at = %(until)s"
        f" WHERE NOT EXISTS (SELECT FROM held) AND id = ("
        f"  SELECT id FROM {table} WHERE project_id = %(project)s AND status = '{pending}'"
        f"  ORDER BY score DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {cols}"
        f") SELECT * FROM held UNION ALL SELECT * FROM leased"
    )


def queue_item_claim_next(*, project, user):
    """Lease the best pending item to `user`; never the same item to two reviewers.

    A reviewer who already holds a live lease gets that item back. Expired leases are
    returned to the queue by `queue_leases_expire` (periodic), not here.
    """
    now = timezone.now()
    until = _lease_until(now)
    if connection.features.has_select_for_update_skip_locked:
        params = {"project": project.pk, "user": user.pk, "now": now, "until": until}
        with connection.cursor() as cur:
            cur.execute(_claim_next_sql(), params)
            row = cur.fetchone()
        return QueueItem.from_db(connection.alias, CLAIM_FIELDS, row) if row else None

    # SQLite: writers are serialized, so no row locks; a conditional UPDATE that changed
    # exactly one row means the claim is ours, and a loser of the race tries the next one.
    mine = QueueItem.objects.filter(project=project).only(*CLAIM_FIELDS)
    held = (
        mine.filter(status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at__gt=now)
        .order_by(*QUEUE_ORDER)
        .first()
    )
    if held:
        return held
    pending = mine.filter(status=QueueItem.Status.PENDING).order_by(*QUEUE_ORDER)
    for candidate_id in pending.values_list("pk", flat=True)[:50]:
        won = QueueItem.objects.filter(pk=candidate_id, status=QueueItem.Status.PENDING).update(
            status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at=until
        )
        if won == 1:
            return mine.get(pk=candidate_id)
    return None


def queue_item_heartbeat(*, item, user):
    """Renew the lease while the reviewer's page is open. False if the lease was lost."""
    return bool(
        QueueItem.objects.filter(
            pk=item.pk, status=QueueItem.Status.CLAIMED, claimed_by=user
        ).update(lease_expires_at=_lease_until())
    )


def queue_item_release(*, item, user):
    """Skip: give the item back to the queue. False if `user` did not hold it."""
    return bool(
        QueueItem.objects.filter(
            pk=item.pk, status=QueueItem.Status.CLAIMED, claimed_by=user
        ).update(status=QueueItem.Status.PENDING, claimed_by=None, lease_expires_at=None)
    )


def queue_leases_expire(*, now=None):
    """Return items whose lease ran out to the queue (the periodic `triage.expire_leases`)."""
    return QueueItem.objects.filter(
        status=QueueItem.Status.CLAIMED, lease_expires_at__lt=now or timezone.now()
    ).update(status=QueueItem.Status.PENDING, claimed_by=None, lease_expires_at=None)


def queue_item_label(
    *,
    item,
    user,
    version,
    decision,
    failure_modes=(),
    criteria="",
    expected_output="",
    notes="",
):
    """Save a label and release the lease.

    Refuses (StaleEdit) an edit based on a stale version instead of overwriting it, and
    (NotClaimant) a label on an item another reviewer holds a live lease on.
    """
    failure_modes = list(failure_modes)
    if criteria or expected_output or notes:
        # Free text other reviewers will read (and promotion copies): a pasted original
        # becomes the item's placeholder for it.
        criteria, expected_output, notes = pii_rescrub(
            item=item, values=[criteria, expected_output, notes]
        )
    now = timezone.now()
    others_lease = Q(status=QueueItem.Status.CLAIMED, lease_expires_at__gt=now) & ~Q(
        claimed_by=user
    )
    with transaction.atomic():
        updated = (
            QueueItem.objects.filter(pk=item.pk, version=version)
            .exclude(others_lease)
            .update(
                decision=decision,
                failure_mode=failure_modes[0] if failure_modes else "",
                failure_modes=failure_modes,
                criteria=criteria,
                expected_output=expected_output,
                notes=notes,
                labelled_by=user,
                labelled_at=now,
                status=QueueItem.Status.LABELLED,
                claimed_by=None,
                lease_expires_at=None,
                version=version + 1,
            )
        )
        if not updated:
            current = QueueItem.objects.select_related("claimed_by", "labelled_by").get(pk=item.pk)
            if current.version != version:
                who = current.labelled_by.username if current.labelled_by else "someone"
                raise StaleEdit(
                    f"Not saved: {who} changed this item (now version {current.version}, you "
                    f"edited version {version}). Your draft is kept below; reload to compare."
                )
            raise NotClaimant(
                f"Not saved: {current.claimed_by.username} is reviewing this item right now."
            )
        if decision == QueueItem.Decision.KNOWN_ISSUE:
            Cluster.objects.filter(pk=item.cluster_id).update(status=Cluster.Status.KNOWN_ISSUE)
        item.refresh_from_db()
        webhook_emit(
            project=item.project,
            event="queue_item.labelled",
            payload=queue_item_labelled_payload(item),
        )
    return item


def failure_mode_create(*, project, label):
    """A project-defined failure mode (idempotent by slug)."""
    slug = slugify(label).replace("-", "_")[:32]
    if not slug:
        raise ValueError("A failure mode needs a name.")
    mode, _ = FailureMode.objects.get_or_create(
        project=project, slug=slug, defaults={"label": label[:80]}
    )
    return mode


def queue_item_default_input(item):
    """The scrubbed input of the first trace's root run, else the first scrubbed comment."""
    for trace in item.scrubbed.get("traces", []):
        for run in trace["runs"]:
            if not run["parent_run_id"]:
                return run["inputs"]
    comments = item.scrubbed.get("comments", [])
    return {"comment": comments[0]["text"]} if comments else {}


def _case_source(cluster, first_seen):
    """Where a promoted case came from: the drift check that sampled it (`drift-<date>`),
    else the day of the first complaint."""
    drawn = (cluster.score_breakdown or {}).get("source")
    if isinstance(drawn, str) and drawn.startswith("drift-"):
        return drawn
    return f"thumbs-down-{first_seen:%Y-%m-%d}"


def queue_item_promote(
    *, item, golden_set, user, input=None, expected=None, criteria=None, failure_mode=None
):
    """Turn a labelled queue item into a draft case with lineage. Promoting twice is a no-op."""
    existing = Case.objects.filter(golden_set=golden_set, queue_item=item).first()
    if existing:
        return existing
    if item.decision != "add_to_eval":
        raise PromoteError("Label the item 'Add to eval' before promoting it.")
    cluster = item.cluster
    failure_mode = item.failure_mode if failure_mode is None else failure_mode
    tags = [t for t in (cluster.category, failure_mode, "p0" if cluster.is_p0 else "") if t]
    first_seen = cluster.first_seen_at or item.created_at
    if input is None:
        input = queue_item_default_input(item)
    if expected is None:
        expected = {"output": item.expected_output} if item.expected_output else None
    if criteria is None:
        criteria = item.criteria
    # Reviewers type and paste these (a revealed original too): scrub them again, with the
    # case's placeholders, before they are stored and exported.
    with transaction.atomic():
        input, expected, criteria = pii_rescrub(item=item, values=[input, expected, criteria])
        return case_create(
            golden_set=golden_set,
            input=input,
            expected=expected,
            criteria=criteria,
            tags=tags,
            failure_mode=failure_mode,
            # Drift samples say which check drew them (drift-<date>); complaints their day.
            source=_case_source(cluster, first_seen),
            user=user,
            cluster=cluster,
            queue_item=item,
            trace_ids=[t["trace_id"] for t in item.scrubbed.get("traces", [])],
            first_feedback_at=first_seen,
        )
