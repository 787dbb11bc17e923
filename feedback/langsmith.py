"""LangSmith wire compatibility: the endpoints the `langsmith` SDK calls (what it sends is
mapped to Runs and feedback by langsmith_mapping).

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

import logging
import uuid

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERROR, drf_error, validation_fields

from . import experiments, services
from .langsmith_mapping import feedback_from_langsmith, multipart_ops, run_from_langsmith
from .request_bodies import BodyError, multipart_parts, request_body_decoded
from .serializers import LangSmithFeedbackInput, RunInput

logger = logging.getLogger(__name__)

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
