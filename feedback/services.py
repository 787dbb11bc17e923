"""Writes for ingestion: validate, write the rows, commit, then enqueue processing."""

import functools
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from accounts.errors import validation_fields
from accounts.models import ApiKey

from .attachments import attachment_content_type, attachment_is_text
from .enqueue import processing_announce, processing_enqueue
from .event_rows import INSERT_COLUMNS, event_rows_insert
from .experiments import experiment_runs_announce
from .models import FeedbackEvent, FeedbackTokenRevocation, Run, RunAttachment, TracingSession
from .serializers import FastPath, FeedbackEventInput
from .tokens import (
    TokenInvalid,
    feedback_token_decode,
    feedback_token_encode,
    feedback_token_hash,
)

logger = logging.getLogger(__name__)

EVENT_FIELDS = (
    "trace_id", "run_id", "session_id", "message_id", "rating", "score", "category",
    "comment", "prompt_hash", "model_id", "customer_tier", "locale", "intent", "source",
    "created_at", "metadata",
)  # fmt: skip


@functools.lru_cache(maxsize=4)
def _user_hmac(secret_key):
    # Keying an HMAC costs more than hashing a short message: key once, copy per event.
    return hmac.new(secret_key.encode(), digestmod="sha256")


def user_id_pseudonymize(*, project, user_id):
    """Keyed hash: stable per project, not reversible without the server's key."""
    if not user_id:
        return ""
    keyed = _user_hmac(settings.SECRET_KEY).copy()
    keyed.update(f"{project.slug}:{user_id}".encode())
    return keyed.hexdigest()


# The C encoder behind json.dumps(raw, sort_keys=True, default=str), the form stored
# hashes were made from, built once: JSONEncoder.encode builds one per call (a fifth of
# the hash's cost). No circular check: raw is parsed JSON.
_hash_encode = json.encoder.c_make_encoder(
    None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True
)


def body_hash(raw):
    return hashlib.sha256("".join(_hash_encode(raw, 0)).encode()).hexdigest()


@dataclass
class IngestResult:
    index: int
    status: str  # created | duplicate | conflict | error
    id: str | None = None
    errors: dict = field(default_factory=dict)

    def as_json(self):
        out = {"index": self.index, "id": self.id, "status": self.status}
        if self.status == "conflict":
            out["status"] = "error"
            out["errors"] = {"id": ["This id was already used with a different body."]}
        elif self.errors:
            out["errors"] = self.errors
        return out


_ROW_DEFAULTS = {name: "" for name in INSERT_COLUMNS} | {
    "client_id": None, "score": None, "source": "explicit", "metadata": {},
}  # fmt: skip
_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)


def _row_from(project, data, raw, now):
    row = _ROW_DEFAULTS | {name: value for name, value in data.items() if name in _EVENT_FIELD_SET}
    row["project_id"] = project.pk
    row["client_id"] = data.get("id")
    row["body_hash"] = body_hash(raw)
    row["user_hash"] = user_id_pseudonymize(project=project, user_id=data.get("user_id", ""))
    row["created_at"] = row["created_at"] or now
    row["received_at"] = now
    return row


_local = threading.local()


def _event_validator():
    """One FeedbackEventInput per thread: binding its fields (a deepcopy of each) costs more
    than validating a typical event; run_validation keeps no state between calls. FastPath
    checks well-formed events cheaply and leaves anything unusual (and every error) to DRF.
    """
    validator = getattr(_local, "event_validator", None)
    if validator is None:
        validator = _local.event_validator = FastPath(FeedbackEventInput())
    return validator


def _validated(validator, raw):
    """(the event's validated data, None), or (None, {field: [messages]})."""
    try:
        return validator.run_validation(raw), None
    except ValidationError as exc:
        return None, validation_fields(exc.detail)


def feedback_errors(raw_events):
    """{index: {field: [messages]}} of the events feedback_ingest_many would refuse, for
    callers that refuse a whole request before storing any of it."""
    validator = _event_validator()
    found = ((index, _validated(validator, raw)[1]) for index, raw in enumerate(raw_events))
    return {index: errors for index, errors in found if errors}


def feedback_ingest_many(*, project, raw_events):
    """Store every valid event; report created / duplicate / conflict / error per item.

    Idempotent on the client's `id`: the same id with the same body is a duplicate, with a
    different body a conflict. Valid items are stored even when others fail.
    """
    now = timezone.now()
    validator = _event_validator()
    results, pending = [], []
    for index, raw in enumerate(raw_events):
        data, errors = _validated(validator, raw)
        if errors:
            client_id = raw.get("id") if isinstance(raw, dict) else None
            results.append(IngestResult(index, "error", client_id, errors))
            continue
        row = _row_from(project, data, raw, now)
        result = IngestResult(index, "created", row["client_id"])
        results.append(result)
        pending.append((result, row))

    unlinked = [row for _, row in pending if row["run_id"] and not row["trace_id"]]
    if unlinked:  # LangSmith feedback names a run; take its trace when we know the run
        traces = trace_ids_for_runs(project=project, run_ids=[r["run_id"] for r in unlinked])
        for row in unlinked:
            row["trace_id"] = traces.get(row["run_id"], "")

    inserted = event_rows_insert([row for _, row in pending], ids_needed=bool(unlinked))
    inserted_client_ids = {client_id for _, client_id in inserted if client_id is not None}
    # Ids that did not insert exist already (or twice in this batch): duplicate or conflict.
    seen, clashes = set(), []
    for result, row in pending:
        client_id = row["client_id"]
        if client_id is None:
            continue
        if client_id in inserted_client_ids and client_id not in seen:
            seen.add(client_id)
        else:
            clashes.append((result, row))
    if clashes:
        stored = dict(
            FeedbackEvent.objects.filter(
                project=project, client_id__in={row["client_id"] for _, row in clashes}
            ).values_list("client_id", "body_hash")
        )
        for result, row in clashes:
            same = stored.get(row["client_id"]) == row["body_hash"]
            result.status = "duplicate" if same else "conflict"

    if unlinked and inserted:
        # A run committed while we inserted would have missed us: look once more.
        feedback_link_pending(event_ids=[pk for pk, _ in inserted])
    if inserted:
        _enqueue_processing(project.pk)
    return results


def _enqueue_processing(project_id):
    """After commit, tell processing this project has new events (see feedback/enqueue.py)."""
    transaction.on_commit(lambda: processing_enqueue(project_id=project_id))


def feedback_sweep_unprocessed(*, older_than_seconds=None):
    """Announce again events whose processing never ran (e.g. the broker was down), and
    link run-only feedback whose run arrived in a race. Returns how many were re-sent."""
    feedback_link_pending()
    if older_than_seconds is None:
        older_than_seconds = settings.TRIAGE_SWEEP_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    late = FeedbackEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
    by_project = dict(late.order_by().values_list("project_id").annotate(n=Count("pk")))
    processing_announce(set(by_project))
    return sum(by_project.values())


RUN_FIELDS = (
    "trace_id", "name", "run_type", "inputs", "outputs", "error", "start_time", "end_time",
    "tags", "prompt_tokens", "completion_tokens", "total_tokens", "total_cost", "model",
    "stop_reason", "documents", "dotted_order", "reference_example_id",
)  # fmt: skip
# Fields stored as "" rather than NULL when a client sends null.
_BLANK_WHEN_NULL = {
    "error": "", "tags": [], "model": "", "stop_reason": "", "dotted_order": "", "name": "",
    "reference_example_id": "",
}  # fmt: skip


def _run_values(data):
    values = {name: data[name] for name in RUN_FIELDS if name in data}
    if "trace_id" in values and not values["trace_id"]:
        del values["trace_id"]  # a patch without it keeps the stored one
    if "parent_run_id" in data:
        values["parent_run_id"] = data["parent_run_id"] or ""
    for name, blank in _BLANK_WHEN_NULL.items():
        if name in values and values[name] is None:
            values[name] = blank
    if values.get("reference_example_id"):
        values["reference_example_id"] = str(values["reference_example_id"])
    extra = data.get("extra") or {}
    if extra.get("metadata"):
        values["metadata"] = extra["metadata"]
    if (
        values.get("total_tokens") is None
        and values.get("prompt_tokens") is not None
        and values.get("completion_tokens") is not None
    ):
        values["total_tokens"] = values["prompt_tokens"] + values["completion_tokens"]
    return values


class AttachmentRunUnknown(ValueError):
    def __init__(self, attachment):
        super().__init__(
            f"Run '{attachment.run_id}' is neither in this request nor stored; "
            "send the attachment with its run."
        )
        self.part = attachment.part


def runs_upsert(*, project, runs, source="native", attachments=()):
    """Create runs, or patch the fields sent for runs already stored (post-then-patch),
    and store their attachments (feedback.attachments.IncomingAttachment) with them.

    Feedback that arrived first naming only a run id gets its trace id now. Raises
    AttachmentRunUnknown, before writing anything, for an attachment of an unknown run.
    """
    saved = {}
    stored = {}
    sent = {data["id"] for data in runs}
    elsewhere = {a.run_id for a in attachments} - sent
    if elsewhere:
        stored = {r.run_id: r for r in Run.objects.filter(project=project, run_id__in=elsewhere)}
        for attachment in attachments:
            if attachment.run_id not in sent and attachment.run_id not in stored:
                raise AttachmentRunUnknown(attachment)
    sessions = _session_ids(project, runs)
    with transaction.atomic():
        for data in runs:
            values = _run_values(data)
            if sessions.get(data["id"]):
                values["session_id"] = sessions[data["id"]]
            run = saved.get(data["id"]) or (
                Run.objects.select_for_update().filter(project=project, run_id=data["id"]).first()
            )
            if run is None:
                if not values.get("trace_id"):
                    values["trace_id"] = (
                        _trace_of_parent(project, values.get("parent_run_id"), saved) or data["id"]
                    )  # no parent: a root run
                try:
                    with transaction.atomic():
                        run = Run.objects.create(
                            project=project, run_id=data["id"], source=source, **values
                        )
                except IntegrityError:  # a concurrent request created it: patch instead
                    run = Run.objects.select_for_update().get(project=project, run_id=data["id"])
                    _run_patch(run, values)
            else:
                _run_patch(run, values)
            saved[run.run_id] = run
        feedback_link_runs(project=project, runs=saved.values())
        experiment_runs_announce(project=project, runs=saved.values())
        for attachment in attachments:
            run_attachment_store(
                run=saved.get(attachment.run_id) or stored[attachment.run_id], attachment=attachment
            )
    return list(saved.values())


def _session_ids(project, runs):
    """run id → the LangSmith session id it was sent with (by id, or by name)."""
    by_name = {d["session_name"] for d in runs if d.get("session_name") and not d.get("session_id")}
    names = dict(
        TracingSession.objects.filter(project=project, name__in=by_name).values_list(
            "name", "session_id"
        )
    )
    out = {}
    for data in runs:
        session = data.get("session_id") or names.get(data.get("session_name"))
        if session:
            out[data["id"]] = str(session)
    return out


def run_attachment_store(*, run, attachment):
    """Store (or replace, by name) one attachment of a run."""
    content_type = attachment_content_type(attachment.content_type)
    RunAttachment.objects.update_or_create(
        run=run,
        name=attachment.name,
        defaults={
            "content_type": content_type,
            "size": len(attachment.data),
            "is_text": attachment_is_text(content_type, attachment.data),
            "content": attachment.data,
            "received_at": timezone.now(),
        },
    )


def _trace_of_parent(project, parent_run_id, saved):
    if not parent_run_id:
        return None
    if parent_run_id in saved:
        return saved[parent_run_id].trace_id
    return trace_ids_for_runs(project=project, run_ids=[parent_run_id]).get(parent_run_id)


def _run_patch(run, values):
    for name, value in values.items():
        setattr(run, name, value)
    if values:
        run.save(update_fields=list(values))


def feedback_link_runs(*, project, runs):
    """Give feedback that named only a run (LangSmith feedback) the run's trace id."""
    by_trace = {}
    for run in runs:
        by_trace.setdefault(run.trace_id, []).append(run.run_id)
    for trace_id, run_ids in by_trace.items():
        FeedbackEvent.objects.filter(project=project, trace_id="", run_id__in=run_ids).update(
            trace_id=trace_id
        )


def feedback_link_pending(*, event_ids=None):
    """Fill trace_id on run-only feedback whose run is now stored (also run by the sweeper)."""
    runs = Run.objects.filter(project=OuterRef("project"), run_id=OuterRef("run_id"))
    pending = FeedbackEvent.objects.filter(trace_id="").exclude(run_id="").filter(Exists(runs))
    if event_ids is not None:
        pending = pending.filter(pk__in=event_ids)
    return pending.update(trace_id=Subquery(runs.values("trace_id")[:1]))


def trace_ids_for_runs(*, project, run_ids):
    """{run_id: trace_id} for the runs already stored."""
    if not run_ids:
        return {}
    return dict(
        Run.objects.filter(project=project, run_id__in=set(run_ids)).values_list(
            "run_id", "trace_id"
        )
    )


def feedback_token_create(*, api_key, trace_id="", run_id="", expires_in=3600):
    """A browser-safe token for feedback on one trace/run of the key's project."""
    if run_id and not trace_id:
        trace_id = trace_ids_for_runs(project=api_key.project, run_ids=[run_id]).get(run_id, "")
    expires_at = timezone.now() + timedelta(seconds=expires_in)
    token = feedback_token_encode(
        key_id=api_key.pk, trace_id=trace_id, run_id=run_id, expires_at=expires_at.timestamp()
    )
    return {"token": token, "expires_at": expires_at, "trace_id": trace_id, "run_id": run_id}


def feedback_token_resolve(*, token):
    """{"api_key", "project", "trace_id", "run_id"} for a live token; raises TokenInvalid."""
    payload = feedback_token_decode(token)
    revoked = FeedbackTokenRevocation.objects.filter(token_hash=feedback_token_hash(payload))
    key = (
        ApiKey.objects.select_related("project")
        .filter(pk=payload["k"])
        .annotate(token_revoked=Exists(revoked))  # still one query per token post
        .first()
    )
    if key is None or key.revoked_at is not None or not key.has_scope("ingest"):
        raise TokenInvalid("invalid_token", "The key that issued this token was revoked.")
    if key.token_revoked:
        raise TokenInvalid("token_revoked", "This feedback token was revoked.")
    return {
        "api_key": key,
        "project": key.project,
        "trace_id": payload["t"],
        "run_id": payload["r"],
    }


def feedback_token_revoke(*, api_key, token):
    """Revoke one token minted by any key of `api_key`'s project; revoking twice is a no-op.

    Raises TokenInvalid for a token we did not sign and PermissionDenied for another
    project's token. An expired token, or one whose key is gone, is already dead: nothing
    is stored for it.
    """
    payload = feedback_token_decode(token, check_expiry=False)
    minted_by = ApiKey.objects.filter(pk=payload["k"]).values_list("project_id", flat=True)
    project_id = minted_by.first()
    if project_id is not None and project_id != api_key.project_id:
        raise PermissionDenied("This token belongs to another project.")
    now = timezone.now()
    expires_at = datetime.fromtimestamp(payload["e"], tz=UTC)
    if project_id is None or expires_at <= now:
        return
    FeedbackTokenRevocation.objects.get_or_create(
        token_hash=feedback_token_hash(payload),
        defaults={"api_key_id": payload["k"], "expires_at": expires_at, "revoked_at": now},
    )
    # Rows of tokens that have expired since guard nothing: drop them while we are here.
    FeedbackTokenRevocation.objects.filter(expires_at__lte=now).delete()
