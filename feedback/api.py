from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS, drf_error

from . import services
from .ingest_lane import THROTTLE_WAIT_KEY, single_result_answer
from .serializers import (
    MAX_BATCH,
    FeedbackBatchInput,
    FeedbackEventInput,
    FeedbackTokenInput,
    TokenFeedbackInput,
    TracesInput,
)
from .tokens import TokenInvalid

FEEDBACK_RESULT = inline_serializer(
    "FeedbackCreated",  # id is null when the client sent none
    {"id": serializers.CharField(allow_null=True), "status": serializers.CharField()},
)


def _single_result_response(result):
    status, body = single_result_answer(result)
    return Response(body, status=status)


class FeedbackApi(APIView):
    """POST /api/v1/feedback. A plain post is answered by feedback/ingest_lane.py before
    Django's handler; this view answers the rest (and every post in Django's test client)."""

    permission_classes = [scope_required("ingest")]

    def check_throttles(self, request):
        wait = request.META.get(THROTTLE_WAIT_KEY)
        if wait is not None:  # the lane counted this post once already: refuse, not recount
            self.throttled(request, wait)
        super().check_throttles(request)

    class ItemResult(serializers.Serializer):
        index = serializers.IntegerField()
        id = serializers.CharField(allow_null=True)
        status = serializers.ChoiceField(["created", "duplicate", "error"])
        errors = serializers.DictField(required=False)

    @extend_schema(
        operation_id="feedback_create",
        request=PolymorphicProxySerializer(
            component_name="FeedbackRequest",
            serializers=[FeedbackEventInput, FeedbackBatchInput],
            resource_type_field_name=None,
        ),
        responses={
            201: FEEDBACK_RESULT,
            # A batch's per-item results, or one event sent again (`duplicate`).
            200: PolymorphicProxySerializer(
                component_name="FeedbackBatchOrDuplicate",
                serializers=[
                    inline_serializer("FeedbackBatchResult", {"results": ItemResult(many=True)}),
                    FEEDBACK_RESULT,
                ],
                resource_type_field_name=None,
            ),
            **ERRORS,
        },
        description='One feedback event, or {"events": [...]} with up to 1000.',
    )
    def post(self, request):
        data = request.data
        project = request.user.project
        if isinstance(data, dict) and "events" in data:
            events = data["events"]
            if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
                FeedbackBatchInput(data=data).is_valid(raise_exception=True)  # DRF's message
            # Items are validated one by one in the service (a non-object item is that
            # item's error), so the batch serializer's per-item pass is skipped.
            results = services.feedback_ingest_many(project=project, raw_events=events)
            return Response({"results": [r.as_json() for r in results]})
        if not isinstance(data, dict):
            return drf_error(
                400, "invalid", "Send a JSON object.", {"body": ["Expected an object."]}
            )
        (result,) = services.feedback_ingest_many(project=project, raw_events=[data])
        return _single_result_response(result)


class TracesApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="traces_create",
        request=TracesInput,
        responses={
            200: inline_serializer(
                "TracesAccepted",
                {"accepted": serializers.IntegerField(), "ids": serializers.ListField()},
            ),
            **ERRORS,
        },
        description="Runs in LangSmith's run shape; posting a known run id patches it.",
    )
    def post(self, request):
        payload = TracesInput(data=request.data)
        payload.is_valid(raise_exception=True)
        runs = services.runs_upsert(
            project=request.user.project, runs=payload.validated_data["runs"]
        )
        return Response({"accepted": len(runs), "ids": [r.run_id for r in runs]})


class FeedbackTokenCreateApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="feedback_token_create",
        request=FeedbackTokenInput,
        responses={
            201: inline_serializer(
                "FeedbackToken",
                {
                    "token": serializers.CharField(),
                    "url": serializers.CharField(),
                    "expires_at": serializers.DateTimeField(),
                    "trace_id": serializers.CharField(),
                    "run_id": serializers.CharField(),
                },
            ),
            **ERRORS,
        },
        description=(
            "Mint a short-lived token for one trace/run. Hand it to your front end; it posts "
            "feedback to `url` with no API key. Like LangSmith's presigned feedback tokens."
        ),
    )
    def post(self, request):
        payload = FeedbackTokenInput(data=request.data)
        payload.is_valid(raise_exception=True)
        token = services.feedback_token_create(api_key=request.auth, **payload.validated_data)
        token["url"] = request.build_absolute_uri(f"/api/v1/feedback-tokens/{token['token']}")
        return Response(token, status=201)


class FeedbackWithTokenApi(APIView):
    """POST is the browser's endpoint: the token in the path is the only credential.
    DELETE is the app's backend revoking that one token with its API key."""

    cors_headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "86400",
    }

    def _revoking(self):
        return self.request is not None and self.request.method == "DELETE"

    def get_authenticators(self):
        return super().get_authenticators() if self._revoking() else []

    def get_permissions(self):
        return [scope_required("ingest")()] if self._revoking() else []

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in self.cors_headers.items():
            response[name] = value
        return response

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        return Response(status=204)

    @extend_schema(
        operation_id="feedback_with_token",
        request=TokenFeedbackInput,
        auth=[],
        responses={
            201: inline_serializer(
                "TokenFeedbackCreated",
                {"id": serializers.CharField(), "status": serializers.CharField()},
            ),
            200: inline_serializer(
                "TokenFeedbackDuplicate",
                {"id": serializers.CharField(), "status": serializers.CharField()},
            ),
            **ERRORS,
        },
        description=(
            "Feedback from a browser with a token from POST /api/v1/feedback-tokens; the "
            "token fixes the trace and run."
        ),
    )
    def post(self, request, token):
        try:
            scope = services.feedback_token_resolve(token=token)
        except TokenInvalid as exc:
            return drf_error(401, exc.code, exc.detail)
        request.auth = scope["api_key"]  # the rate limit counts against the minting key
        self.check_throttles(request)
        data = request.data
        if not isinstance(data, dict):
            return drf_error(
                400, "invalid", "Send a JSON object.", {"body": ["Expected an object."]}
            )
        for name in ("trace_id", "run_id"):
            if data.get(name) and data[name] != scope[name]:
                return drf_error(
                    403, "forbidden", f"This token is for {name} '{scope[name]}' only."
                )
        body = {k: v for k, v in data.items() if k not in ("trace_id", "run_id")}
        check = TokenFeedbackInput(data=body)
        check.is_valid(raise_exception=True)
        event = {**body, "source": "explicit"}
        for name in ("trace_id", "run_id"):
            if scope[name]:
                event[name] = scope[name]
        (result,) = services.feedback_ingest_many(project=scope["project"], raw_events=[event])
        return _single_result_response(result)

    @extend_schema(
        operation_id="feedback_token_revoke",
        request=None,
        responses={204: OpenApiResponse(description="Revoked (or already unusable).")}
        | {code: ERRORS[code] for code in (401, 403, 404, 429)},
        description=(
            "Revoke one feedback token before it expires, with an `ingest` key of the project "
            "that minted it. Idempotent; other tokens of the key keep working."
        ),
    )
    def delete(self, request, token):
        try:
            services.feedback_token_revoke(api_key=request.auth, token=token)
        except TokenInvalid as exc:
            return drf_error(404, "not_found", exc.detail)
        return Response(status=204)
