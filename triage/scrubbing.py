"""The reviewer's view of a cluster, scrubbed: every string through the PII scrubber with
one placeholder set per queue item, originals kept encrypted, every reveal audited."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch

from accounts.audit import audit_record
from accounts.jsonbody import value_depth
from accounts.selectors import membership_can_reveal_pii
from feedback.models import Run, RunAttachment

from .models import PiiMapping, QueueItem
from .pii import encryption
from .pii.analysis import analyze_texts
from .pii.placeholders import Placeholders, _string_leaves, rescrub_texts, scrub_json

logger = logging.getLogger(__name__)

SAMPLE_COMMENTS = 20
ORIGINAL_PURGED = object()  # pii_reveal's answer once retention deleted the original
SAMPLE_TRACES = 3


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
                "downloadable": not a.is_text and run.raw_purged_at is None,
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
    cap = settings.TRIAGE_JSON_MAX_DEPTH
    too_deep = [  # stored before the nesting cap existed: the view is cut at the cap
        f"run {v['run_id']} {name}"
        for v in run_views
        for name in ("inputs", "outputs")
        if value_depth(v[name], cap) > cap
    ]
    problem = f"Nested deeper than {cap} levels, cut: {', '.join(too_deep)}" if too_deep else ""
    with transaction.atomic():
        # Locked while scrubbing, so a promotion cannot add a placeholder meanwhile; the
        # stored mappings seed the numbering, so a re-scrub (the cluster grew) keeps every
        # placeholder reviewers and promoted cases already use.
        placeholders = _item_placeholders(item)
        # Every text field reviewers see, in one batch (one spaCy pipe pass, cached by
        # content hash), comments first so numbering runs from the first complaint.
        # Timestamps and ids are structure, not personal data.
        # Each run's fields are values of their own (not wrapped in a list), so the cut
        # at the nesting cap falls where ingest's cap does.
        fields = ("name", "inputs", "outputs", "error")
        comments, *texts = scrub_json(
            [[e.comment for e in events], *(v[f] for v in run_views for f in fields)],
            placeholders,
            entities=item.project.pii_entity_types,
        )
        for index, view in enumerate(run_views):
            view.update(zip(fields, texts[index * 4 : index * 4 + 4], strict=True))
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
            scrubbed=scrubbed,
            scrubbed_event_count=item.cluster.event_count,
            scrub_problem=problem[:500],
        )
    item.scrubbed, item.scrub_problem = scrubbed, problem[:500]
    return item


def _item_placeholders(item):
    """The item's placeholder numbering so far, from its stored mappings; locks the item
    row (call inside a transaction) so no one else numbers meanwhile."""
    QueueItem.objects.select_for_update().filter(pk=item.pk).first()
    mappings = list(item.pii_mappings.all())
    placeholders = Placeholders.from_originals(
        {
            m.placeholder: encryption.decrypt(m.original_encrypted)
            for m in mappings
            if m.original_encrypted
        }
    )
    for m in mappings:  # originals purged by retention: their numbers stay taken
        placeholders.reserve(m.placeholder)
    return placeholders


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
        scrubbed = scrub_json(
            values, placeholders, scrub=rescrub_texts, entities=item.project.pii_entity_types
        )
        _pii_mappings_store(item, placeholders.added())
    return scrubbed


def pii_reveal(*, item, placeholder, membership):
    """The original value behind `placeholder` on this item; every reveal is audited.

    `membership` is the user's membership in the item's project: raises PermissionDenied
    unless it may reveal there (membership_can_reveal_pii); returns None for an unknown
    placeholder and ORIGINAL_PURGED when retention deleted the original.
    """
    if membership.project_id != item.project_id or not membership_can_reveal_pii(
        membership=membership
    ):
        raise PermissionDenied(
            "Revealing PII needs the reveal_pii permission and the lead role in this project."
        )
    user = membership.user
    mapping = item.pii_mappings.filter(placeholder=placeholder).first()
    if mapping is None:
        return None
    audit_record(action="pii.reveal", target=item, actor=user, details={"placeholder": placeholder})
    logger.info("user %s revealed %s on queue item %s", user.pk, placeholder, item.pk)
    if not mapping.original_encrypted:
        return ORIGINAL_PURGED
    return encryption.decrypt(mapping.original_encrypted)


def case_values_scrub(batch):
    """The scrubber datasets calls for curated case text (registered in TriageConfig.ready).

    `batch`: [(case or None, [json values])]. A promoted case's edits are re-scrubbed with
    its queue item's placeholders (pasted originals map back, mappings stored); a case
    with no queue item (imported) gets a fresh placeholder set, numbered from the
    placeholders its text already holds. Detection runs once over the whole batch first
    (results are cached by content), so importing many cases costs one model pass.
    """
    texts = [text for _, values in batch for value in values for _, text in _string_leaves(value)]
    if texts:
        analyze_texts(texts)
    out = []
    for case, values in batch:
        item = QueueItem.objects.filter(pk=case.queue_item_id).first() if case else None
        if item is not None:
            out.append(pii_rescrub(item=item, values=values))
        else:
            out.append(scrub_json(values, Placeholders(), scrub=rescrub_texts))
    return out
