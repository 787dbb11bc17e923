import json

from django.http import HttpResponseNotModified, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS

from . import results, selectors
from .models import GoldenSet

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


class CaseResultInput(serializers.Serializer):
    case_id = serializers.CharField(max_length=80)
    passed = serializers.BooleanField()
    score = serializers.FloatField(required=False, allow_null=True)
    output = serializers.JSONField(required=False, allow_null=True)
    details = serializers.JSONField(required=False, allow_null=True)

    def to_internal_value(self, data):
        # "passed": "yes" or 1 must not pass silently: only JSON true/false.
        if isinstance(data, dict) and not isinstance(data.get("passed"), bool):
            raise serializers.ValidationError({"passed": ["Must be true or false."]})
        return super().to_internal_value(data)


class ResultsInput(serializers.Serializer):
    commit = serializers.CharField(max_length=80, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, allow_blank=True, default="")
    results = CaseResultInput(many=True, allow_empty=False, max_length=100_000)


class ResultsOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    commit = serializers.CharField()
    name = serializers.CharField()
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ResultsCreatedOutput(ResultsOutput):
    newly_passing = serializers.ListField(child=serializers.CharField())
    regressions = serializers.ListField(child=serializers.CharField())


def _results_view(run):
    return {
        "id": run.pk,
        "version": run.version.number,
        "commit": run.commit,
        "name": run.name,
        "passed": run.passed,
        "failed": run.failed,
        "created_at": run.created_at,
    }


class GoldenSetResultsApi(APIView):
    """CI reports which cases of a pinned version pass (scope `results:write`)."""

    def get_permissions(self):
        scope = "results:write" if self.request.method == "POST" else "datasets:read"
        return [scope_required(scope)()]

    def _version(self, request, slug, ref):
        golden_set = _golden_set_for(request, slug)
        version = selectors.version_resolve(golden_set=golden_set, ref=ref)
        if version is None:
            raise exceptions.NotFound(f"No version '{ref}' of golden set '{slug}'.")
        return version

    @extend_schema(
        operation_id="golden_set_results_list",
        responses={200: ResultsOutput(many=True), **ERRORS},
    )
    def get(self, request, slug, ref):
        version = self._version(request, slug, ref)
        runs = version.results_runs.select_related("version").order_by("-pk")[:100]
        return Response(ResultsOutput([_results_view(r) for r in runs], many=True).data)

    @extend_schema(
        operation_id="golden_set_results_create",
        request=ResultsInput,
        responses={201: ResultsCreatedOutput, **ERRORS},
    )
    def post(self, request, slug, ref):
        version = self._version(request, slug, ref)
        data = ResultsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            run, changes = results.results_run_record(version=version, **data.validated_data)
        except results.ResultsError as exc:
            raise exceptions.ValidationError(exc.fields) from None
        return Response({**ResultsOutput(_results_view(run)).data, **changes}, status=201)
