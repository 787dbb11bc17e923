"""Writes for the triage workflow: the queue (claim, lease, skip), labels, failure modes,
and promoting a labelled item into a golden-set case."""

import functools
import re
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from accounts.audit import audit_record
from datasets.models import Case
from datasets.services import case_create
from webhooks.services import webhook_emit

from .incidents import open_incidents_for_cluster
from .models import (
    Cluster,
    FailureMode,
    ItemComment,
    QueueItem,
    RubricField,
    SecondReview,
)
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
    other), or, once no pending row is left, the best skipped one; leased in the same
    UPDATE. COALESCE evaluates its second argument only when the first is NULL, so the
    skipped rows are not scanned (nor locked) while pending work remains. `NOT EXISTS
    (held)` is a one-time filter evaluated first, so a reviewer who holds a lease locks
    nothing. Statuses are literals so even a generic plan knows them.
    """
    table = connection.ops.quote_name(QueueItem._meta.db_table)
    cols = ", ".join(CLAIM_FIELDS)
    claimed, pending = QueueItem.Status.CLAIMED.value, QueueItem.Status.PENDING.value
    skipped = QueueItem.Status.SKIPPED.value

    def best(status):
        return (
            f"(SELECT id FROM {table} WHERE project_id = %(project)s AND status = '{status}'"
            f" ORDER BY score DESC, id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)"
        )

    return (
        f"WITH held AS ("
        f" SELECT {cols} FROM {table}"
        f" WHERE project_id = %(project)s AND status = '{claimed}'"
        f" AND claimed_by_id = %(user)s AND lease_expires_at > %(now)s"
        f" ORDER BY score DESC, id DESC LIMIT 1"
        f"), leased AS ("
        f" UPDATE {table} SET status = '{claimed}', claimed_by_id = %(user)s,"
        f" lease_expires_at = %(until)s"
        f" WHERE NOT EXISTS (SELECT FROM held) AND id = COALESCE({best(pending)}, {best(skipped)})"
        f" RETURNING {cols}"
        f") SELECT * FROM held UNION ALL SELECT * FROM leased"
    )


def queue_item_claim_next(*, project, user):
    """Lease the best pending item to `user`; never the same item to two reviewers.

    A reviewer who already holds a live lease gets that item back. Skipped items come
    after every pending one (see `queue_item_skip`). Expired leases are returned to the
    queue by `queue_leases_expire` (periodic), not here.
    """
    now = timezone.now()
    until = _lease_until(now)
    if connection.features.has_select_for_update_skip_locked:
        params = {"project": project.pk, "user": user.pk, "now": now, "until": until}
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(_claim_next_sql(), params)
                row = cur.fetchone()
            item = QueueItem.from_db(connection.alias, CLAIM_FIELDS, row) if row else None
            if item is not None and item.lease_expires_at == until:  # new lease, not a held one
                audit_record(action="queue_item.claim", target=item, actor=user)
        return item

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
    for status in (QueueItem.Status.PENDING, QueueItem.Status.SKIPPED):
        waiting = mine.filter(status=status).order_by(*QUEUE_ORDER)
        for candidate_id in waiting.values_list("pk", flat=True)[:50]:
            with transaction.atomic():
                won = QueueItem.objects.filter(pk=candidate_id, status=status).update(
                    status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at=until
                )
                if won == 1:
                    item = mine.get(pk=candidate_id)
                    audit_record(action="queue_item.claim", target=item, actor=user)
                    return item
    return None


def _claimable(now):
    """Rows nobody holds: waiting in the queue, or claimed on a lease that ran out."""
    return Q(status__in=[QueueItem.Status.PENDING, QueueItem.Status.SKIPPED]) | Q(
        status=QueueItem.Status.CLAIMED, lease_expires_at__lte=now
    )


def queue_item_claim(*, item, user):
    """Lease this one item (opened from the queue) to `user`. False if someone holds it.

    One conditional UPDATE: of two reviewers pressing "Claim" at once exactly one wins.
    """
    now = timezone.now()
    with transaction.atomic():
        won = QueueItem.objects.filter(
            _claimable(now) | Q(status=QueueItem.Status.CLAIMED, claimed_by=user), pk=item.pk
        ).update(
            status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at=_lease_until(now)
        )
        if won:
            audit_record(action="queue_item.claim", target=item, actor=user)
    return bool(won)


def queue_item_take_over(*, item, user):
    """A lead takes the lease of an item another reviewer holds (or nobody does).

    The caller checks the lead's role. Labelled items are not taken over: re-labelling one
    is a versioned edit, not a lease.
    """
    with transaction.atomic():
        previous = QueueItem.objects.filter(pk=item.pk).values_list("claimed_by_id", flat=True)
        previous = previous.first()
        won = QueueItem.objects.filter(
            pk=item.pk,
            status__in=[
                QueueItem.Status.CLAIMED,
                QueueItem.Status.PENDING,
                QueueItem.Status.SKIPPED,
            ],
        ).update(status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at=_lease_until())
        if won:
            details = {"from_user_id": previous}
            audit_record(action="queue_item.take_over", target=item, actor=user, details=details)
    return bool(won)


def queue_item_heartbeat(*, item, user):
    """Renew the lease while the reviewer's page is open. False if the lease was lost."""
    return bool(
        QueueItem.objects.filter(
            pk=item.pk, status=QueueItem.Status.CLAIMED, claimed_by=user
        ).update(lease_expires_at=_lease_until())
    )


def queue_item_skip(*, item, user):
    """Skip: give the item back as `skipped`, behind every pending item. False if `user`
    did not hold it.

    Skipped rows are claimed only once no pending row is left (`queue_item_claim_next`),
    so "claim, skip, claim" hands the reviewer the next item, not the same one, and the
    queue's "skipped" count says how many were passed over.
    """
    with transaction.atomic():
        skipped = QueueItem.objects.filter(
            pk=item.pk, status=QueueItem.Status.CLAIMED, claimed_by=user
        ).update(status=QueueItem.Status.SKIPPED, claimed_by=None, lease_expires_at=None)
        if skipped:
            audit_record(action="queue_item.skip", target=item, actor=user)
    return bool(skipped)


# --- bulk actions (leads) ----------------------------------------------------------------
# Each is one conditional UPDATE over the chosen rows: rows another reviewer holds on a live
# lease, or that are already labelled, are left alone (and counted as such by the caller).
ASSIGN_HOURS = 24  # an assignment holds the item for its member this long, unopened


def _bulk_rows(*, project, item_ids, now):
    return QueueItem.objects.filter(project=project, pk__in=list(item_ids)).filter(_claimable(now))


def queue_items_assign(*, project, item_ids, member):
    """Hold the items for `member` (they open them from "Claimed"; the heartbeat renews)."""
    now = timezone.now()
    with transaction.atomic():
        changed = _bulk_rows(project=project, item_ids=item_ids, now=now).update(
            status=QueueItem.Status.CLAIMED,
            claimed_by=member,
            lease_expires_at=now + timedelta(hours=ASSIGN_HOURS),
        )
        details = {"item_ids": sorted(item_ids), "member_id": member.pk, "changed": changed}
        audit_record(action="queue_items.assign", target=project, details=details)
    return changed


def queue_items_skip(*, project, item_ids):
    """Move the items behind every pending one (see `queue_item_skip`)."""
    now = timezone.now()
    with transaction.atomic():
        changed = _bulk_rows(project=project, item_ids=item_ids, now=now).update(
            status=QueueItem.Status.SKIPPED, claimed_by=None, lease_expires_at=None
        )
        details = {"item_ids": sorted(item_ids), "changed": changed}
        audit_record(action="queue_items.skip", target=project, details=details)
    return changed


def queue_items_mark_known_issue(*, project, item_ids, user):
    """Label the items "known issue" (and their clusters), as one reviewer's decision."""
    now = timezone.now()
    with transaction.atomic():
        changed = _bulk_rows(project=project, item_ids=item_ids, now=now).update(
            status=QueueItem.Status.LABELLED,
            decision=QueueItem.Decision.KNOWN_ISSUE,
            labelled_by=user,
            labelled_at=now,
            claimed_by=None,
            lease_expires_at=None,
            version=F("version") + 1,
        )
        # The rows this call labelled: same user, same instant.
        labelled = list(
            QueueItem.objects.filter(
                project=project, pk__in=list(item_ids), labelled_by=user, labelled_at=now
            ).select_related("project")
        )
        Cluster.objects.filter(pk__in=[i.cluster_id for i in labelled]).update(
            status=Cluster.Status.KNOWN_ISSUE
        )
        for item in labelled:
            webhook_emit(
                project=project,
                event="queue_item.labelled",
                payload=queue_item_labelled_payload(item),
            )
        details = {"item_ids": sorted(i.pk for i in labelled), "changed": changed}
        audit_record(action="queue_items.known_issue", target=project, actor=user, details=details)
    return changed


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
    scores=None,
):
    """Save a label (with its rubric `scores`) and release the lease.

    Labelling needs the lease: `user` holds a live one, or the item is already labelled
    (a correction, guarded by its version). Refuses (StaleEdit) an edit based on a stale
    version instead of overwriting it, and (NotClaimant) a label on an item `user` does
    not hold.
    """
    failure_modes = list(failure_modes)
    if criteria or expected_output or notes:
        # Free text other reviewers will read (and promotion copies): a pasted original
        # becomes the item's placeholder for it.
        criteria, expected_output, notes = pii_rescrub(
            item=item, values=[criteria, expected_output, notes]
        )
    now = timezone.now()
    holds = Q(status=QueueItem.Status.CLAIMED, claimed_by=user, lease_expires_at__gt=now)
    with transaction.atomic():
        updated = (
            QueueItem.objects.filter(pk=item.pk, version=version)
            .filter(holds | Q(status=QueueItem.Status.LABELLED))
            .update(
                decision=decision,
                failure_mode=failure_modes[0] if failure_modes else "",
                failure_modes=failure_modes,
                criteria=criteria,
                expected_output=expected_output,
                notes=notes,
                scores=dict(scores or {}),
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
            if current.lease_live and current.claimed_by_id != user.pk:
                raise NotClaimant(
                    f"Not saved: {current.claimed_by.username} is reviewing this item right now."
                )
            if current.claimed_by_id == user.pk:
                raise NotClaimant("Not saved: your lease expired. Claim the item to label it.")
            raise NotClaimant("Not saved: claim this item before labelling it.")
        if decision == QueueItem.Decision.KNOWN_ISSUE:
            Cluster.objects.filter(pk=item.cluster_id).update(status=Cluster.Status.KNOWN_ISSUE)
        item.refresh_from_db()
        details = {"decision": decision, "failure_modes": failure_modes, "version": item.version}
        audit_record(action="queue_item.label", target=item, actor=user, details=details)
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


def case_source(*, cluster, first_seen):
    """Where a promoted case came from (API.md): a drift sample, an auto-flag rule (the
    cluster's first event was raised by one), else a user's thumbs-down."""
    day = f"{first_seen:%Y-%m-%d}"
    # The traffic-drift check names the day it drew the sample (triage.traffic_drift).
    drawn = (cluster.score_breakdown or {}).get("source")
    if isinstance(drawn, str) and drawn.startswith("drift-"):
        return drawn
    if cluster.kind == Cluster.Kind.DRIFT_SAMPLE:
        return f"drift-{day}"
    first = cluster.events.order_by("created_at", "pk").values("source", "metadata").first()
    rule = (first or {}).get("metadata", {}).get("rule") if first else None
    if first and first["source"] != "explicit" and isinstance(rule, str) and slugify(rule):
        return f"auto-flag-{slugify(rule)[:40]}-{day}"
    return f"thumbs-down-{day}"


def rubric_field_create(
    *, project, label, kind, choices=(), min_value=None, max_value=None, instructions="",
    required=False,
):  # fmt: skip
    """A rubric score on the project's label form (re-creating an archived key revives it)."""
    key = slugify(label).replace("-", "_")[:40]
    if not key:
        raise ValueError("A rubric field needs a name.")
    choices = [c.strip()[:80] for c in choices if c.strip()]
    if kind == RubricField.Kind.CATEGORICAL and len(set(choices)) < 2:
        raise ValueError("A list needs at least two choices, separated by commas.")
    if kind == RubricField.Kind.NUMERIC and (
        min_value is None or max_value is None or min_value >= max_value
    ):
        raise ValueError("A range needs a minimum below its maximum.")
    if kind not in RubricField.Kind.values:
        raise ValueError(f"Unknown kind {kind!r}.")
    values = {
        "label": label[:80],
        "kind": kind,
        "choices": list(dict.fromkeys(choices)) if kind == RubricField.Kind.CATEGORICAL else [],
        "min_value": min_value if kind == RubricField.Kind.NUMERIC else None,
        "max_value": max_value if kind == RubricField.Kind.NUMERIC else None,
        "instructions": instructions,
        "required": required,
        "active": True,
        "position": RubricField.objects.filter(project=project).count(),
    }
    field, _ = RubricField.objects.update_or_create(project=project, key=key, defaults=values)
    return field


def rubric_field_archive(*, project, key):
    """Take a field off the label form; labels keep the scores already given."""
    return bool(RubricField.objects.filter(project=project, key=key).update(active=False))


def second_review_record(*, item, user, decision, note=""):
    """A second, independent decision on a labelled P0 item, compared with its label.

    Not by the reviewer who labelled it; once per reviewer and label version (recording
    again returns the first one).
    """
    if not getattr(settings, "TRIAGE_P0_SECOND_REVIEW", True):
        raise ValueError("Second reviews are turned off for this deployment.")
    if item.status != QueueItem.Status.LABELLED or not item.decision:
        raise ValueError("Only a labelled item gets a second review.")
    if not item.cluster.is_p0:
        raise ValueError("Second reviews are for P0 items.")
    if item.labelled_by_id == user.pk:
        raise ValueError("A second review is someone else's: you labelled this item.")
    if decision not in QueueItem.Decision.values:
        raise ValueError("Choose a decision.")
    if note:
        (note,) = pii_rescrub(item=item, values=[note])
    with transaction.atomic():
        review, created = SecondReview.objects.get_or_create(
            item=item,
            reviewer=user,
            first_version=item.version,
            defaults={"decision": decision, "first_decision": item.decision, "note": note},
        )
        if created:
            details = {"decision": decision, "first_decision": item.decision}
            audit_record(
                action="queue_item.second_review", target=item, actor=user, details=details
            )
    return review


MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")
COMMENT_MAX = 4000


def item_comment_create(*, item, author, body, members, parent=None):
    """A discussion comment on `item`; `@username` of a project member mentions them.

    Replies thread one level deep (a reply to a reply joins the same thread). The text is
    scrubbed with the item's placeholders, mentions excepted, so a pasted original never
    reaches other reviewers and "@lena" is not mistaken for a name to hide.
    """
    body = body.strip()[:COMMENT_MAX]
    if not body:
        raise ValueError("Write something first.")
    if parent is not None:
        if parent.item_id != item.pk:
            raise ValueError("That comment belongs to another item.")
        parent = parent.parent or parent
    by_name = {m.username: m for m in members}
    parts = MENTION.split(body)  # text, name, text, name, …, text
    texts = [parts[i] for i in range(0, len(parts), 2)]
    scrubbed = pii_rescrub(item=item, values=texts) if any(t.strip() for t in texts) else texts
    out, mentioned = [], []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(scrubbed[i // 2])
        elif part in by_name:
            out.append(f"@{part}")
            mentioned.append(by_name[part])
        else:  # not a member: plain text, scrubbed like the rest
            out.append("@" + pii_rescrub(item=item, values=[part])[0])
    with transaction.atomic():
        comment = ItemComment.objects.create(
            item=item, author=author, parent=parent, body="".join(out)
        )
        comment.mentioned.set({m.pk: m for m in mentioned}.values())
        details = {"comment_id": comment.pk}  # the text stays out: it is free text
        audit_record(action="queue_item.comment", target=item, actor=author, details=details)
    return comment


def queue_item_default_input(item):
    """The scrubbed input of the first trace's root run, else the first scrubbed comment."""
    for trace in item.scrubbed.get("traces", []):
        for run in trace["runs"]:
            if not run["parent_run_id"]:
                return run["inputs"]
    comments = item.scrubbed.get("comments", [])
    return {"comment": comments[0]["text"]} if comments else {}


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
    # An open incident on this cluster claims the case: it is that incident's action item.
    incident = open_incidents_for_cluster(cluster).order_by("opened_at").first()
    if incident:
        source = f"incident-{incident.pk}"
    else:
        source = case_source(cluster=cluster, first_seen=first_seen)
    # Reviewers type and paste these (a revealed original too): scrub them again, with the
    # case's placeholders, before they are stored and exported.
    with transaction.atomic():
        input, expected, criteria = pii_rescrub(item=item, values=[input, expected, criteria])
        case = case_create(
            golden_set=golden_set,
            input=input,
            expected=expected,
            criteria=criteria,
            tags=tags,
            failure_mode=failure_mode,
            source=source,
            user=user,
            cluster=cluster,
            queue_item=item,
            trace_ids=[t["trace_id"] for t in item.scrubbed.get("traces", [])],
            first_feedback_at=first_seen,
        )
        if incident:
            incident.cases.add(case)
        details = {"case_id": case.case_id, "golden_set": golden_set.slug}
        audit_record(action="queue_item.promote", target=item, actor=user, details=details)
        return case
