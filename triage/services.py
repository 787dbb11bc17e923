"""Writes for the triage domain: clustering, ranking, the queue, labels, scrubbing."""

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.text import slugify

from datasets import webhooks
from feedback.models import Run, RunAttachment

from .models import Cluster, FailureMode, PiiMapping, PiiRevealAudit, QueueItem
from .pii import encryption
from .pii.placeholders import Placeholders, rescrub_texts, scrub_json

logger = logging.getLogger(__name__)

SAMPLE_COMMENTS = 20
SAMPLE_TRACES = 3


class StaleEdit(Exception):
    """The item changed since the reviewer loaded it."""


class NotClaimant(Exception):
    """The reviewer does not hold this item's lease."""


# --- clustering and the triage job -------------------------------------------------------
# They live in triage.job, triage.clustering and triage.auto_flags (big, set-based);
# re-exported so callers keep using services.
from .auto_flags import flags_detect  # noqa: E402, F401
from .clustering import cluster_stats_refresh, feedback_process  # noqa: E402, F401
from .job import (  # noqa: E402, F401
    clusters_score,
    drift_check,
    known_issues_check,
    queue_fill,
    triage_run,
    triage_run_fail,
    triage_run_start,
)


def _run_view(run):
    return {
        "run_id": run.run_id,
        "parent_run_id": run.parent_run_id,
        "name": run.name,
        "run_type": run.run_type,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "end_time": run.end_time.isoformat() if run.end_time else None,
        "duration_ms": run.duration_ms,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "total_cost": str(run.total_cost) if run.total_cost is not None else None,
        # Metadata only: attachment names are not scrubbed, so they are left out, and text
        # attachments are never downloadable (feedback.attachments).
        "attachments": [
            {
                "id": a.pk,
                "content_type": a.content_type,
                "size": a.size,
                "downloadable": not a.is_text,
            }
            for a in run.attachments.all()  # prefetched by queue_item_scrub, without bytes
        ],
    }


def queue_item_scrub(*, item):
    """Build the reviewer's view of a cluster with every string scrubbed, one placeholder set."""
    events = list(item.cluster.events.order_by("created_at", "pk")[:SAMPLE_COMMENTS])
    trace_ids = []
    for event in events:
        if event.trace_id and event.trace_id not in trace_ids:
            trace_ids.append(event.trace_id)
    trace_ids = trace_ids[:SAMPLE_TRACES]
    attachments = RunAttachment.objects.defer("content").order_by("pk")
    runs = list(
        Run.objects.filter(project=item.project, trace_id__in=trace_ids)
        .order_by("start_time", "pk")
        .prefetch_related(Prefetch("attachments", queryset=attachments))
    )

    run_views = [_run_view(r) for r in runs]
    with transaction.atomic():
        # Locked while scrubbing, so a promotion cannot add a placeholder meanwhile; the
        # stored mappings seed the numbering, so a re-scrub (the cluster grew) keeps every
        # placeholder reviewers and promoted cases already use.
        placeholders = _item_placeholders(item)
        # Every text field reviewers see, in one batch (one spaCy pipe pass, cached by
        # content hash), comments first so numbering runs from the first complaint.
        # Timestamps and ids are structure, not personal data.
        comments, *texts = scrub_json(
            [
                [e.comment for e in events],
                *([v["name"], v["inputs"], v["outputs"], v["error"]] for v in run_views),
            ],
            placeholders,
        )
        for view, (name, inputs, outputs, error) in zip(run_views, texts, strict=True):
            view.update(name=name, inputs=inputs, outputs=outputs, error=error)
        scrubbed = {
            "comments": [
                {
                    "text": text,
                    "created_at": e.created_at.isoformat(),
                    "tier": e.customer_tier,
                    "model_id": e.model_id,
                    "prompt_hash": e.prompt_hash,
                    "trace_id": e.trace_id,
                    "source": e.source,
                }
                for e, text in zip(events, comments, strict=True)
            ],
            "traces": [
                {
                    "trace_id": tid,
                    "runs": [
                        rv for rv, r in zip(run_views, runs, strict=True) if r.trace_id == tid
                    ],
                }
                for tid in trace_ids
            ],
        }
        _pii_mappings_store(item, placeholders.added())
        QueueItem.objects.filter(pk=item.pk).update(
            scrubbed=scrubbed, scrubbed_event_count=item.cluster.event_count
        )
    item.scrubbed = scrubbed
    return item


def _item_placeholders(item):
    """The item's placeholder numbering so far, from its stored mappings; locks the item
    row (call inside a transaction) so no one else numbers meanwhile."""
    QueueItem.objects.select_for_update().filter(pk=item.pk).first()
    return Placeholders.from_originals(
        {m.placeholder: encryption.decrypt(m.original_encrypted) for m in item.pii_mappings.all()}
    )


def _pii_mappings_store(item, originals):
    PiiMapping.objects.bulk_create(
        PiiMapping(
            queue_item=item,
            placeholder=placeholder,
            entity_type=placeholder[1:].rsplit("_", 1)[0],
            original_encrypted=encryption.encrypt(original),
        )
        for placeholder, original in originals.items()
    )


def pii_rescrub(*, item, values):
    """Scrub JSON values a reviewer edited with the item's own placeholders.

    A pasted original becomes the placeholder it maps to, a new value gets the next number
    and its (encrypted) mapping stored. The item's row is locked so two promotions of one
    item cannot hand out the same number.
    """
    with transaction.atomic():
        placeholders = _item_placeholders(item)
        scrubbed = scrub_json(values, placeholders, scrub=rescrub_texts)
        _pii_mappings_store(item, placeholders.added())
    return scrubbed


def pii_reveal(*, item, placeholder, user):
    """The original value behind `placeholder` on this item; every reveal is audited.

    Raises PermissionDenied without `triage.reveal_pii`; returns None for an unknown one.
    """
    if not user.has_perm("triage.reveal_pii"):
        raise PermissionDenied("Revealing PII needs the reveal_pii permission.")
    mapping = item.pii_mappings.filter(placeholder=placeholder).first()
    if mapping is None:
        return None
    PiiRevealAudit.objects.create(queue_item=item, placeholder=placeholder, user=user)
    logger.info("user %s revealed %s on queue item %s", user.pk, placeholder, item.pk)
    return encryption.decrypt(mapping.original_encrypted)


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
        webhooks.webhook_emit(
            project=item.project,
            event="queue_item.labelled",
            payload=webhooks.queue_item_labelled_payload(item),
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


# --- erasure ------------------------------------------------------------------------------


def user_data_erase(*, project, user_id):
    """Erase what one end user sent (a data-subject request): their feedback events, the
    runs of traces only they complained about, and every original of theirs in the
    placeholder mappings. Affected clusters are recounted and their queue items re-scrubbed
    from the evidence that remains (fresh placeholders: the old ones may point at them).
    Golden-set cases hold scrubbed text only and stay. Idempotent."""
    from feedback.models import FeedbackEvent
    from feedback.services import user_id_pseudonymize

    user_hash = user_id_pseudonymize(project=project, user_id=user_id)
    with transaction.atomic():
        events = FeedbackEvent.objects.filter(project=project, user_hash=user_hash)
        rows = list(events.values_list("pk", "cluster_id", "trace_id"))
        cluster_ids = {cid for _, cid, _ in rows if cid}
        traces = {tid for _, _, tid in rows if tid}
        events.delete()
        # A trace someone else also complained about is their evidence too: it stays.
        shared = set(
            FeedbackEvent.objects.filter(project=project, trace_id__in=traces).values_list(
                "trace_id", flat=True
            )
        )
        _, deleted = Run.objects.filter(project=project, trace_id__in=traces - shared).delete()
        runs_deleted = deleted.get(Run._meta.label, 0)  # not counting their attachments
        cluster_stats_refresh(cluster_ids=cluster_ids)
        items = list(QueueItem.objects.filter(cluster_id__in=cluster_ids))
        for item in items:
            item.pii_mappings.all().delete()
            queue_item_scrub(item=item)
    logger.info(
        "erased end-user data in project %s: %s events, %s runs, %s queue items re-scrubbed",
        project.slug,
        len(rows),
        runs_deleted,
        len(items),
    )
    return {
        "events_deleted": len(rows),
        "runs_deleted": runs_deleted,
        "queue_items_rescrubbed": len(items),
    }
