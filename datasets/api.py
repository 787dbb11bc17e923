import json
from datetime import timedelta

from django.conf import settings
from django.core.validators import URLValidator
from django.http import HttpResponseNotModified, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback.api import ERRORS
from feedback.auth import scope_required

from . import selectors, webhooks
from .models import GoldenSet, WebhookDelivery, WebhookEndpoint

STREAM_CHUNK_LINES = 500


def _golden_set_for(request, slug):
    golden_set = GoldenSet.objects.filter(project=request.user.project, slug=slug).first()
    if golden_set is None:
        if GoldenSet.objects.filter(slug=slug).exists():
            raise exceptions.PermissionDenied(
                "This key's project has no access to that golden set."
            )
        raise exceptions.NotFound(f"No golden set '{slug}'.")
    return golden_set


class GoldenSetOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    latest_version = serializers.IntegerField(allow_null=True)


class GoldenSetVersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    digest = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    case_count = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    notes = serializers.CharField()


class GoldenSetListApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_sets_list", responses={200: GoldenSetOutput(many=True), **ERRORS}
    )
    def get(self, request):
        rows = [
            {
                "slug": g.slug,
                "name": g.name,
                "latest_version": g.versions.order_by("-number")
                .values_list("number", flat=True)
                .first(),
            }
            for g in GoldenSet.objects.filter(project=request.user.project).order_by("slug")
        ]
        return Response(GoldenSetOutput(rows, many=True).data)


class GoldenSetVersionListApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_set_versions_list",
        responses={200: GoldenSetVersionOutput(many=True), **ERRORS},
    )
    def get(self, request, slug):
        golden_set = _golden_set_for(request, slug)
        versions = golden_set.versions.order_by("-number").defer("body")
        return Response(GoldenSetVersionOutput(versions, many=True).data)


class GoldenSetCasesApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_set_cases_jsonl",
        parameters=[
            OpenApiParameter("split", str, enum=["dev", "holdout"], required=False),
            OpenApiParameter(
                "ref",
                str,
                OpenApiParameter.PATH,
                description="A version number, `latest`, a tag or `sha256:<digest>`.",
            ),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One case per line."
            ),
            304: OpenApiResponse(description="If-None-Match matched the version's ETag."),
            **ERRORS,
        },
    )
    def get(self, request, slug, ref):
        golden_set = _golden_set_for(request, slug)
        split = request.query_params.get("split")
        if split not in (None, "dev", "holdout"):
            raise exceptions.ValidationError({"split": ["Must be 'dev' or 'holdout'."]})
        version = selectors.version_resolve(golden_set=golden_set, ref=ref)
        if version is None:
            raise exceptions.NotFound(f"No version '{ref}' of golden set '{slug}'.")
        etag = f'"{version.digest}"'
        headers = {
            "ETag": etag,
            "X-Golden-Set-Version": str(version.number),
            "Cache-Control": "private, max-age=0, must-revalidate",
        }
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponseNotModified()
        else:
            response = StreamingHttpResponse(
                _lines(version.body, split), content_type="application/x-ndjson; charset=utf-8"
            )
        for name, value in headers.items():
            response[name] = value
        return response


def _lines(body, split):
    chunk = []
    for line in body.splitlines(keepends=True):
        if split and json.loads(line)["split"] != split:
            continue
        chunk.append(line)
        if len(chunk) >= STREAM_CHUNK_LINES:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


class TimeToEvalQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=30)


class TimeToEvalStageOutput(serializers.Serializer):
    stage = serializers.ChoiceField(choices=[s[0] for s in selectors.TIME_TO_EVAL_STAGES])
    label = serializers.CharField()
    cases = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    max_hours = serializers.FloatField(allow_null=True)


class OpenP0Output(serializers.Serializer):
    item_id = serializers.IntegerField()
    cluster_id = serializers.IntegerField()
    category = serializers.CharField()
    reports = serializers.IntegerField()
    status = serializers.CharField()
    first_seen_at = serializers.DateTimeField()
    hours_left = serializers.FloatField(help_text="Negative once the P0 SLA is missed.")


class TimeToEvalOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    sla_hours = serializers.FloatField()
    published_cases = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    max_hours = serializers.FloatField(allow_null=True)
    p0_cases = serializers.IntegerField()
    p0_within_sla = serializers.IntegerField()
    stages = TimeToEvalStageOutput(many=True)
    open_p0_total = serializers.IntegerField()
    open_p0 = OpenP0Output(many=True, help_text="The 50 most urgent (oldest first complaint).")


class TimeToEvalApi(APIView):
    """Hours from a cluster's first complaint to the first published version holding its case."""

    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="time_to_eval",
        parameters=[TimeToEvalQuery],
        responses={200: TimeToEvalOutput, **ERRORS},
    )
    def get(self, request):
        query = TimeToEvalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        report = selectors.time_to_eval_report(
            project=request.user.project,
            since=now - timedelta(days=query.validated_data["days"]),
            now=now,
            sla_hours=settings.TRIAGE_P0_SLA_HOURS,
        )
        return Response(TimeToEvalOutput(report).data)


class WebhookInput(serializers.Serializer):
    url = serializers.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.EVENTS), min_length=1
    )


class WebhookOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookCreatedOutput(WebhookOutput):
    secret = serializers.CharField(help_text="Signing secret; shown only in this response.")


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    payload = serializers.JSONField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


def _endpoint_for(request, pk):
    endpoint = WebhookEndpoint.objects.filter(project=request.user.project, pk=pk).first()
    if endpoint is None:
        raise exceptions.NotFound(f"No webhook {pk}.")
    return endpoint


class WebhookListApi(APIView):
    """Endpoints told when a golden set gets a new version. Signed with HMAC-SHA256."""

    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="webhooks_list", responses={200: WebhookOutput(many=True), **ERRORS}
    )
    def get(self, request):
        endpoints = WebhookEndpoint.objects.filter(project=request.user.project).order_by("pk")
        return Response(WebhookOutput(endpoints, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookInput,
        responses={201: WebhookCreatedOutput, **ERRORS},
    )
    def post(self, request):
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        refusal = webhooks.webhook_address_refusal(data.validated_data["url"])
        if refusal:
            raise exceptions.ValidationError({"url": [refusal]})
        endpoint, secret = webhooks.webhook_endpoint_create(
            project=request.user.project, **data.validated_data
        )
        return Response({**WebhookOutput(endpoint).data, "secret": secret}, status=201)


class WebhookDetailApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS})
    def delete(self, request, pk):
        _endpoint_for(request, pk).delete()
        return Response(status=204)


class WebhookDeliveryListApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="webhook_deliveries_list",
        responses={200: WebhookDeliveryOutput(many=True), **ERRORS},
    )
    def get(self, request, pk):
        deliveries = _endpoint_for(request, pk).deliveries.order_by("-pk")[:100]
        return Response(WebhookDeliveryOutput(deliveries, many=True).data)
