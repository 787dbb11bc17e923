from django.http import HttpResponseNotModified, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS

from . import selectors
from .models import GoldenSet


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
                selectors.version_jsonl_chunks(version=version, split=split),
                content_type="application/x-ndjson; charset=utf-8",
            )
        for name, value in headers.items():
            response[name] = value
        return response
