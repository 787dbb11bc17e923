"""LangSmith wire compatibility: what the `langsmith` SDK sends, mapped to Runs and feedback.

The SDK (0.3 … 0.15) calls, relative to LANGSMITH_ENDPOINT:
- `GET /info` once; `batch_ingest_config.use_multipart_endpoint` picks multipart vs batch and
  `instance_flags.zstd_compression_enabled` turns on zstd-compressed multipart bodies.
- `POST /runs/multipart`: multipart/form-data, optionally `Content-Encoding: zstd`. Parts are
  named `post.<id>` / `patch.<id>` (the run minus its big fields), `post.<id>.inputs`,
  `.outputs`, `.events`, `.extra`, `.error`, `.serialized` and `feedback.<id>`, each JSON,
  and `attachment.<id>.<name>`: raw bytes with their own Content-Type (stored as
  RunAttachment, up to TRIAGE_ATTACHMENT_MAX_BYTES each).
- `POST /runs/batch`: `{"post": [run, …], "patch": [run, …]}`; `POST /runs`, `PATCH /runs/<id>`.
- `POST /feedback`: `{"id", "run_id", "trace_id"?, "key", "score", "value", "comment",
  "correction", "feedback_source": {"type"}, "created_at", …}`.
Token usage rides in `outputs.usage_metadata` (or `extra.metadata.usage_metadata`), the model in
`extra.metadata.ls_model_name`, retriever documents in `outputs.documents`/`outputs.output`.
"""

import json
import logging
import re
import uuid
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERROR, drf_error, validation_fields
from accounts.jsonbody import JsonInvalid, json_parse

from . import experiments, services
from .attachments import IncomingAttachment
from .request_bodies import BodyError, multipart_parts, request_body_decoded
from .serializers import LangSmithFeedbackInput, RunInput

logger = logging.getLogger(__name__)

# Feedback keys that mean "the user's thumbs" in common LangSmith setups.
THUMBS_KEYS = {"user_score", "thumbs", "thumbs_up", "thumbs_down", "user_feedback", "user_rating"}
DOWN_VALUES = ("down", "thumbs_down", "thumbsdown", "negative", "bad", "no", "false", "0", "👎")
UP_VALUES = ("up", "thumbs_up", "thumbsup", "positive", "good", "yes", "true", "1", "👍")
# Keys that are a rating on their own, whatever the score or value.
RATING_KEYS = {"thumbs_down": "down", "thumbs_up": "up"}


def _any_case(word):
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in word)


# A `value` that is a thumbs word: any letter case, JSON whitespace around it. One pattern
# for _rating and the OpenAPI schema (config/schema.py), spelled without flags or `\s`
# (which differ between Python and ECMA-262 regexes) so both read it alike.
THUMBS_VALUE_PATTERN = (
    "^[ \t\n\r]*(" + "|".join(map(_any_case, DOWN_VALUES + UP_VALUES)) + ")[ \t\n\r]*$"
)
RUN_PASSTHROUGH = (
    "id", "trace_id", "parent_run_id", "name", "run_type", "inputs", "outputs", "error",
    "start_time", "end_time", "tags", "extra", "dotted_order", "session_id", "session_name",
    "reference_example_id",
)  # fmt: skip
BIG_FIELDS = ("inputs", "outputs", "events", "extra", "error", "serialized")


# --- pure mapping -------------------------------------------------------------------------


def _dig(value, *path):
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
        elif not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(outputs, metadata):
    """(prompt_tokens, completion_tokens, total_tokens, cost) from the shapes LangSmith reads."""
    usage = _dig(outputs, "usage_metadata") or metadata.get("usage_metadata")
    if isinstance(usage, dict):
        cost = usage.get("total_cost")
        parts = (usage.get("input_cost") or 0, usage.get("output_cost") or 0)
        if cost is None and usage.get("input_cost") is not None and all(_number(p) for p in parts):
            cost = sum(parts)
        return (
            _int(usage.get("input_tokens")),
            _int(usage.get("output_tokens")),
            _int(usage.get("total_tokens")),
            cost,
        )
    usage = (
        _dig(outputs, "llm_output", "token_usage")
        or _dig(outputs, "llm_output", "usage")
        or _dig(outputs, "usage")
    )
    if isinstance(usage, dict):  # OpenAI or Anthropic response objects
        return (
            _int(usage.get("prompt_tokens", usage.get("input_tokens"))),
            _int(usage.get("completion_tokens", usage.get("output_tokens"))),
            _int(usage.get("total_tokens")),
            None,
        )
    return None, None, None, None


def _stop_reason(outputs):
    for path in (
        ("choices", 0, "finish_reason"),
        ("stop_reason",),
        ("finish_reason",),
        ("response_metadata", "finish_reason"),
        ("response_metadata", "stop_reason"),
        ("generations", 0, 0, "generation_info", "finish_reason"),
        ("generations", 0, "generation_info", "finish_reason"),
        ("generations", 0, 0, "message", "kwargs", "response_metadata", "finish_reason"),
        ("generations", 0, 0, "message", "kwargs", "response_metadata", "stop_reason"),
    ):
        found = _dig(outputs, *path)
        if isinstance(found, str) and found:
            return found[:64]
    return None


def _model(outputs, extra):
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    for found in (
        metadata.get("ls_model_name"),
        _dig(extra, "invocation_params", "model"),
        _dig(extra, "invocation_params", "model_name"),
        _dig(outputs, "model"),
        _dig(outputs, "llm_output", "model_name"),
        _dig(outputs, "response_metadata", "model_name"),
    ):
        if isinstance(found, str) and found:
            return found[:200]
    return None


def documents_normalize(items):
    """Retriever output (LangChain Documents or plain dicts) → [{"content", "metadata", …}]."""
    if not isinstance(items, list):
        return None
    docs = []
    for item in items:
        if isinstance(item, str):
            docs.append({"content": item})
        elif isinstance(item, dict):
            kwargs = item.get("kwargs") if item.get("lc") else None  # serialized LangChain
            item = kwargs or item
            doc = {"content": item.get("page_content", item.get("content", ""))}
            for name in ("id", "metadata", "score"):
                if item.get(name) is not None:
                    doc[name] = item[name]
            docs.append(doc)
    return docs


def run_from_langsmith(raw):
    """A LangSmith run dict → our RunInput shape (only the fields that were sent)."""
    if not isinstance(raw, dict):
        return raw  # RunInput reports it
    # LangSmith sends null for "not given" (a patch nulls name and run_type): drop those.
    # Ids arrive as JSON strings (the SDK serializes UUIDs); RunInput refuses other types.
    data = {name: raw[name] for name in RUN_PASSTHROUGH if raw.get(name) is not None}
    outputs = raw.get("outputs") if isinstance(raw.get("outputs"), dict) else {}
    extra = raw.get("extra") if isinstance(raw.get("extra"), dict) else {}
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    if outputs or metadata:
        prompt, completion, total, cost = _usage(outputs, metadata)
        for name, value in (
            ("prompt_tokens", prompt),
            ("completion_tokens", completion),
            ("total_tokens", total),
        ):
            if value is not None:
                data[name] = value
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            data["total_cost"] = Decimal(str(round(cost, 8)))
    if outputs and (stop := _stop_reason(outputs)):
        data["stop_reason"] = stop
    if model := _model(outputs, extra):
        data["model"] = model
    if raw.get("run_type") == "retriever" and outputs:
        docs = documents_normalize(outputs.get("documents", outputs.get("output")))
        if docs is not None:
            data["documents"] = docs
    if isinstance(data.get("error"), dict | list):
        data["error"] = json.dumps(data["error"])
    if raw.get("session_name") or raw.get("events"):
        extra = dict(extra)
        extra["metadata"] = {**metadata, "ls_session_name": raw.get("session_name")}
        data["extra"] = extra
    return data


def _rating(key, score, value):
    """The rating ("down"/"up") from the score, else a thumbs value, else a thumbs key."""
    if isinstance(score, bool):
        return "up" if score else "down"
    if isinstance(score, int | float):
        return "down" if score < 0.5 else "up"
    thumbs = re.fullmatch(THUMBS_VALUE_PATTERN, value) if isinstance(value, str) else None
    if thumbs:
        return "down" if thumbs.group(1).lower() in DOWN_VALUES else "up"
    return RATING_KEYS.get(key)


def _given(value):
    """LangSmith sends null (or blank) for "not given"."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def feedback_from_langsmith(raw):
    """LangSmith feedback → a native feedback event (API.md fields).

    Score 0 (or a false/negative value on a thumbs key) is a thumbs-down.
    """
    if not isinstance(raw, dict):
        return raw
    key = str(raw.get("key") or "")
    score, value = raw.get("score"), raw.get("value")
    event = {"metadata": {"langsmith": {"key": key}}}
    # Ids are JSON strings (LangSmithFeedbackInput); another type is passed on to be refused.
    for name in ("id", "run_id", "trace_id", "session_id"):
        if _given(raw.get(name)):
            event[name] = raw[name]
    rating = _rating(key, score, value)
    if rating:
        event["rating"] = rating
    if isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 1:
        event["score"] = float(score)
    if raw.get("comment"):
        event["comment"] = raw["comment"]
    if raw.get("created_at"):
        event["created_at"] = raw["created_at"]
    if isinstance(value, str) and value in settings.TRIAGE_CATEGORIES:
        event["category"] = value
    source_type = str(_dig(raw, "feedback_source", "type") or "api")
    event["source"] = "explicit" if source_type in {"api", "app"} else "auto"
    lang = event["metadata"]["langsmith"]
    for name in ("score", "value", "correction", "feedback_source", "feedback_config"):
        if raw.get(name) is not None:
            lang[name] = raw[name]
    return event


def multipart_ops(parts):
    """Multipart parts (request_bodies.Part) → (posts, patches, feedbacks, attachments,
    names of the parts ignored).

    A part of a kind this server does not know (a head other than post, patch, feedback and
    attachment, or a post/patch field not in BIG_FIELDS) is ignored, unread: newer SDKs add
    kinds, and the runs beside it must still land. A known part that makes no sense raises
    ValueError, an attachment over TRIAGE_ATTACHMENT_MAX_BYTES BodyError (413), both naming
    the part.
    """
    runs = {}  # (op, id) -> dict, in arrival order
    feedbacks, attachments, ignored = [], [], []
    limit = settings.TRIAGE_ATTACHMENT_MAX_BYTES
    for part in parts:
        name, value = part.name, part.data
        head, _, rest = name.partition(".")
        if head == "feedback":
            feedbacks.append(_json_part(name, value))
            continue
        if head == "attachment":
            run_id, _, attachment = rest.partition(".")
            if not run_id or not attachment or len(attachment) > 200:
                raise ValueError(f"Part {name!r}: expected attachment.<run id>.<name ≤ 200>.")
            if len(value) > limit:
                raise BodyError(
                    413,
                    "attachment_too_large",
                    f"Part {name!r} is {len(value)} bytes; attachments are limited to {limit}.",
                    field=name,
                )
            attachments.append(
                IncomingAttachment(name, run_id, attachment, part.content_type, value)
            )
            continue
        run_id, _, field = rest.partition(".")
        if head not in {"post", "patch"} or (field and field not in BIG_FIELDS):
            ignored.append(name)
            continue
        run = runs.setdefault((head, run_id), {"id": run_id})
        parsed = _json_part(name, value)
        if field:
            run[field] = parsed
        elif isinstance(parsed, dict):
            run.update({k: v for k, v in parsed.items() if k != "id"} | {"id": run_id})
        else:
            raise ValueError(f"Part {name!r} must be a JSON object.")
    posts = [run for (op, _), run in runs.items() if op == "post"]
    patches = [run for (op, _), run in runs.items() if op == "patch"]
    return posts, patches, feedbacks, attachments, ignored


def _json_part(name, value):
    try:
        return json_parse(value, field=name)
    except JsonInvalid as exc:
        raise BodyError(400, exc.code, f"Part {name!r}: {exc.detail}", field=exc.field) from None


# --- views --------------------------------------------------------------------------------

NO_RATING = "Send a score (0 = thumbs down), a thumbs word as value or a thumbs_down/up key."

ACCEPTED_FIELDS = {"accepted": serializers.IntegerField(), "feedback": serializers.IntegerField()}
ACCEPTED = inline_serializer("LangSmithAccepted", ACCEPTED_FIELDS)
MULTIPART_ACCEPTED = inline_serializer(
    "LangSmithMultipartAccepted",
    {
        **ACCEPTED_FIELDS,
        "ignored_parts": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Names of the parts of unknown kinds, ignored; present only when some were.",
        ),
        "feedback_conflicts": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Ids of feedback not stored: the id was used before with another body "
            "(POST /feedback's 409); present only when some were.",
        ),
    },
)
ERROR_RESPONSES = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 413, 415, 429)}


def _validate_runs(raw_runs, prefix):
    """Map and validate; returns (runs, fields-with-errors)."""
    runs, errors = [], {}
    for index, raw in enumerate(raw_runs):
        serializer = RunInput(data=run_from_langsmith(raw))
        if serializer.is_valid():
            runs.append(serializer.validated_data)
        else:
            for name, messages in validation_fields(serializer.errors).items():
                errors[f"{prefix}[{index}].{name}"] = messages
    return runs, errors


def _feedback_problems(raw, *, complaint):
    """{field: [messages]} POST /feedback refuses this LangSmith feedback with, or {}.
    A complaint (not an eval score) must give a rating and make a valid event."""
    checked = LangSmithFeedbackInput(data=raw)
    if not checked.is_valid():
        return validation_fields(checked.errors)
    if not complaint:
        return {}
    event = feedback_from_langsmith(raw)
    if "rating" not in event:
        return {"score": [NO_RATING]}
    return services.feedback_errors([event]).get(0, {})


def _invalid(errors):
    return drf_error(
        400, "invalid", "Invalid value for: " + ", ".join(sorted(errors)) + ".", errors
    )


def _ingest(request, posts, patches, feedbacks=(), attachments=()):
    project = request.user.project
    runs, errors = _validate_runs(posts, "post")
    patched, patch_errors = _validate_runs(patches, "patch")
    errors.update(patch_errors)
    # Feedback is checked before anything is stored, as runs are: a bad item fails the
    # request naming it, never a silent drop. Scores on this request's experiment runs
    # are eval results, not user feedback.
    experiment_runs = {str(r["id"]) for r in runs + patched if r.get("reference_example_id")}
    user, scores = experiments.langsmith_feedback_split(
        project=project, raws=list(feedbacks), experiment_run_ids=experiment_runs
    )
    complaints = {id(raw) for raw in user}  # the split hands back the parts themselves
    for index, raw in enumerate(feedbacks):
        problems = _feedback_problems(raw, complaint=id(raw) in complaints)
        errors.update({f"feedback[{index}].{name}": msgs for name, msgs in problems.items()})
    if errors:
        return _invalid(errors)
    # Posts first, then patches, so a run posted and patched in one request ends patched.
    try:
        services.runs_upsert(
            project=project, runs=runs + patched, source="langsmith", attachments=attachments
        )
    except services.AttachmentRunUnknown as exc:
        return _invalid({exc.part: [str(exc)]})
    stored = experiments.eval_scores_store(project=project, raws=scores) if scores else 0
    answer = {"accepted": len(runs) + len(patched), "feedback": stored}
    if user:
        events = [feedback_from_langsmith(raw) for raw in user]
        results = services.feedback_ingest_many(project=project, raw_events=events)
        answer["feedback"] += sum(r.status in {"created", "duplicate"} for r in results)
        # Found only when written, after the runs: named in the answer and the log.
        conflicts = [r.id for r in results if r.status == "conflict"]
        if conflicts:
            logger.warning(
                "LangSmith feedback not stored, id used before with another body: %r",
                conflicts[:10],
            )
            answer["feedback_conflicts"] = conflicts
    return Response(answer, status=202)


class LangSmithInfoApi(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="langsmith_info",
        responses={200: inline_serializer("LangSmithInfo", {"version": serializers.CharField()})},
        description="What the LangSmith SDK asks first: capabilities of this endpoint.",
    )
    def get(self, request):
        return Response(
            {
                "version": "0.10.0",
                "license_expiration_time": None,
                "batch_ingest_config": {
                    "use_multipart_endpoint": getattr(settings, "TRIAGE_LANGSMITH_MULTIPART", True),
                    "size_limit_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
                    "size_limit": 100,
                    "scale_up_qsize_trigger": 1000,
                    "scale_up_nthreads_limit": 16,
                    "scale_down_nempty_trigger": 4,
                },
                "instance_flags": {"zstd_compression_enabled": True},
            }
        )


class LangSmithRunsApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="langsmith_run_create",
        request={"application/json": {"type": "object"}},
        responses={202: ACCEPTED, **ERROR_RESPONSES},
        description="One run in LangSmith's shape (`Client.create_run`).",
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            return _invalid({"body": ["Expected a run object."]})
        return _ingest(request, [request.data], [])


class LangSmithRunPatchApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="langsmith_run_update",
        request={"application/json": {"type": "object"}},
        responses={202: ACCEPTED, **ERROR_RESPONSES},
        description="Patch a run (`Client.update_run`): end time, outputs, error.",
    )
    def patch(self, request, run_id):
        if not isinstance(request.data, dict):
            return _invalid({"body": ["Expected a run object."]})
        return _ingest(request, [], [{**request.data, "id": run_id}])


class LangSmithRunsBatchApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="langsmith_runs_batch",
        request=inline_serializer(
            "LangSmithBatch",
            {
                "post": serializers.ListField(
                    child=serializers.DictField(), required=False, allow_null=True
                ),
                "patch": serializers.ListField(
                    child=serializers.DictField(), required=False, allow_null=True
                ),
            },
        ),
        responses={202: ACCEPTED, **ERROR_RESPONSES},
        description='`{"post": [run, …], "patch": [run, …]}` as `Client.batch_ingest_runs`.',
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            return _invalid({"body": ["Expected an object with 'post' and/or 'patch'."]})
        # Absent or null means none; anything else but a list ({} included) is refused.
        errors = {
            name: ["Must be a list of runs."]
            for name in ("post", "patch")
            if not isinstance(data.get(name, []), list | None)
        }
        if errors:
            return _invalid(errors)
        return _ingest(request, data.get("post") or [], data.get("patch") or [])


class LangSmithRunsMultipartApi(APIView):
    permission_classes = [scope_required("ingest")]
    parser_classes = []  # the body is read here, after decompression

    @extend_schema(
        operation_id="langsmith_runs_multipart",
        # A part is bytes: JSON for most kinds, anything (NULs included) for an attachment
        # or a part of an unknown kind. OpenAPI 3.0 cannot key a schema on a name pattern.
        request={
            "multipart/form-data": {
                "type": "object",
                "additionalProperties": {
                    "description": "A part, named as the operation's description says."
                },
            }
        },
        responses={202: MULTIPART_ACCEPTED, **ERROR_RESPONSES},
        description=(
            "The SDK's default path: multipart parts per run, optionally zstd "
            "(`Content-Encoding: zstd`). Parts, by name: `post.<run id>` and `patch.<run id>` "
            "(a run object, JSON), `post.<run id>.<field>` / `patch.<run id>.<field>` for "
            "field in inputs, outputs, events, extra, error, serialized (JSON), "
            "`feedback.<id>` (a feedback object, JSON) and `attachment.<run id>.<name>` (raw "
            "bytes with their own Content-Type, stored with their run; 413 naming the part "
            "past the attachment size limit). A malformed part of these kinds is a 400 naming "
            "it, and nothing is stored; so is feedback `POST /feedback` would refuse, named "
            "`feedback[<index among the feedback parts>].<field>`. Feedback whose id was used "
            "before with another body is not stored and listed in `feedback_conflicts`. "
            "Parts of any other kind are ignored and listed in `ignored_parts`; the rest of "
            "the batch is stored."
        ),
    )
    def post(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        if not content_type.startswith("multipart/form-data"):
            return drf_error(
                415, "unsupported_media_type", "Send multipart/form-data (LangSmith SDK format)."
            )
        try:
            parts = multipart_parts(
                request_body_decoded(request),
                content_type,
                max_parts=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
            )
            posts, patches, feedbacks, attachments, ignored = multipart_ops(parts)
        except BodyError as exc:
            return drf_error(exc.status, exc.code, exc.detail, exc.fields)
        except ValueError as exc:
            return drf_error(400, "malformed_body", str(exc), {"body": [str(exc)]})
        response = _ingest(request, posts, patches, feedbacks, attachments)
        if ignored and response.status_code == 202:
            # Names only (never contents), a few of them: enough to notice a new SDK part kind.
            logger.warning(
                "LangSmith multipart: ignored %d part(s) of unknown kinds, e.g. %r",
                len(ignored),
                ignored[:10],
            )
            response.data["ignored_parts"] = ignored
        return response


class LangSmithFeedbackApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="langsmith_feedback_create",
        request=LangSmithFeedbackInput,
        responses={
            200: inline_serializer(
                "LangSmithFeedback",
                {
                    "id": serializers.CharField(
                        allow_null=True, help_text="The feedback's id; null when none was sent."
                    )
                },
            ),
            **ERROR_RESPONSES,
            409: OpenApiResponse(ERROR),
        },
        description=(
            "`Client.create_feedback`, echoed back with its id. The rating comes from `score` "
            "(a number: below 0.5 is down; a boolean), else from a thumbs word in `value` "
            "(down/up, thumbs_down/thumbs_up, bad/good, no/yes, 0/1, 👎/👍…, any case), else "
            "from `key` thumbs_down/thumbs_up; none of these is a 400 naming `score`. A score "
            "on a run of an `evaluate()` experiment is an eval result, not a complaint: it is "
            "kept whatever its score or value."
        ),
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            return _invalid({"body": ["Expected a feedback object."]})
        project = request.user.project
        _, scores = experiments.langsmith_feedback_split(project=project, raws=[request.data])
        problems = _feedback_problems(request.data, complaint=not scores)
        if problems:
            return _invalid(problems)
        if scores:
            # The id the score is stored under (the SDK always sends one).
            scores = [{**raw, "id": raw.get("id") or str(uuid.uuid4())} for raw in scores]
            experiments.eval_scores_store(project=project, raws=scores)
            return Response({**request.data, "id": scores[0]["id"]})
        event = feedback_from_langsmith(request.data)
        (result,) = services.feedback_ingest_many(project=project, raw_events=[event])
        if result.status == "conflict":
            return drf_error(
                409, "conflict", f"Feedback id '{result.id}' exists with another body."
            )
        # The stored id, not the body's: null only when none was sent.
        return Response({**request.data, "id": result.id}, status=200)
