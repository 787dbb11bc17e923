from django.core.validators import RegexValidator
from django.http import HttpResponseNotModified, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS, Conflict
from feedback.serializers import StrictCharField

from . import results, selectors, services
from .models import GoldenSet


def read_or_admin(read="datasets:read"):
    """Reads need `read`; writes (POST, PUT, PATCH, DELETE) need `admin`."""
    reader, writer = scope_required(read)(), scope_required("admin")()

    class ReadOrAdmin(permissions.BasePermission):
        message = reader.message

        def has_permission(self, request, view):
            check = reader if request.method in permissions.SAFE_METHODS else writer
            self.message = check.message
            return check.has_permission(request, view)

    return ReadOrAdmin


class NothingChangedError(Conflict):
    default_code = "nothing_changed"


class InvalidValues(exceptions.ValidationError):
    """A service's field errors as DRF's 400 (the JSON error shape names each field)."""

    def __init__(self, fields):
        super().__init__(fields)


def version_for(golden_set, ref, name="ref"):
    version = selectors.version_resolve(golden_set=golden_set, ref=ref)
    if version is None:
        raise exceptions.NotFound(f"No version '{ref}' of golden set '{golden_set.slug}' ({name}).")
    return version


def _valid(serializer_class, data, **kwargs):
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"body": ["Send a JSON object."]})
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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


class GoldenSetCreateInput(serializers.Serializer):
    # The validator states the pattern in the schema; the service checks it again.
    slug = StrictCharField(
        max_length=50, validators=[RegexValidator(services.SLUG_RE, services.SLUG_HELP)]
    )
    name = StrictCharField(max_length=200)


class GoldenSetListApi(APIView):
    permission_classes = [read_or_admin()]

    @extend_schema(
        operation_id="golden_sets_create",
        request=GoldenSetCreateInput,
        responses={201: GoldenSetOutput, **ERRORS},
    )
    def post(self, request):
        data = _valid(GoldenSetCreateInput, request.data)
        try:
            golden_set = services.golden_set_create(
                project=request.user.project, slug=data["slug"], name=data["name"]
            )
        except services.InvalidInput as exc:
            raise InvalidValues(exc.fields) from exc
        except services.AlreadyExists as exc:
            raise Conflict(str(exc)) from exc
        body = {"slug": golden_set.slug, "name": golden_set.name, "latest_version": None}
        return Response(GoldenSetOutput(body).data, status=status.HTTP_201_CREATED)

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


class PublishInput(serializers.Serializer):
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class GoldenSetVersionListApi(APIView):
    permission_classes = [read_or_admin()]

    @extend_schema(
        operation_id="golden_set_versions_publish",
        request=PublishInput,
        responses={201: GoldenSetVersionOutput, **ERRORS},
    )
    def post(self, request, slug):
        golden_set = _golden_set_for(request, slug)
        data = _valid(PublishInput, request.data)
        try:
            version = services.golden_set_version_publish(
                golden_set=golden_set, user=None, notes=data["notes"], tags=data["tags"]
            )
        except services.InvalidInput as exc:
            raise InvalidValues(exc.fields) from exc
        except services.NothingChanged as exc:
            raise NothingChangedError(str(exc)) from exc
        except services.PublishError as exc:
            raise Conflict(str(exc)) from exc
        return Response(GoldenSetVersionOutput(version).data, status=status.HTTP_201_CREATED)

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
        return _export(request, slug, ref, csv=False)


def _export(request, slug, ref, *, csv):
    golden_set = _golden_set_for(request, slug)
    split = request.query_params.get("split")
    if split not in (None, "dev", "holdout"):
        raise exceptions.ValidationError({"split": ["Must be 'dev' or 'holdout'."]})
    version = version_for(golden_set, ref)
    digest = selectors.version_csv_digest(version=version) if csv else version.digest
    etag = f'"{digest}"'
    headers = {
        "ETag": etag,
        "X-Golden-Set-Version": str(version.number),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    elif csv:
        response = StreamingHttpResponse(
            selectors.version_csv_chunks(version=version, split=split),
            content_type="text/csv; charset=utf-8",
        )
        name = f"{golden_set.slug}-v{version.number}{'-' + split if split else ''}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    else:
        response = StreamingHttpResponse(
            selectors.version_jsonl_chunks(version=version, split=split),
            content_type="application/x-ndjson; charset=utf-8",
        )
    for name, value in headers.items():
        response[name] = value
    return response


class GoldenSetCasesCsvApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_set_cases_csv",
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
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The version's cases as CSV (cases.jsonl columns, JSON cells "
                "for input, expected and tags). ETag: sha256 of this CSV body.",
            ),
            304: OpenApiResponse(description="If-None-Match matched the CSV's ETag."),
            **ERRORS,
        },
    )
    def get(self, request, slug, ref):
        return _export(request, slug, ref, csv=True)


class TagMoveInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class GoldenSetTagApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="golden_set_tag_move",
        request=TagMoveInput,
        responses={200: GoldenSetVersionOutput, **ERRORS},
    )
    def put(self, request, slug, tag):
        golden_set = _golden_set_for(request, slug)
        try:
            services.tag_validate(tag)
        except services.InvalidInput as exc:
            raise InvalidValues(exc.fields) from exc
        data = _valid(TagMoveInput, request.data)
        version = version_for(golden_set, str(data["version"]), name="version")
        version = services.golden_set_version_tag(version=version, tag=tag)
        return Response(GoldenSetVersionOutput(version).data)


class DiffChangeOutput(serializers.Serializer):
    case_id = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())
    before = serializers.DictField(help_text="The changed fields' values in `from`.")
    after = serializers.DictField(help_text="The changed fields' values in `to`.")


class DiffOutput(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = DiffChangeOutput(many=True)

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword: declared here instead of as attributes.
        fields["from"] = serializers.IntegerField()
        fields["to"] = serializers.IntegerField()
        return fields


class GoldenSetDiffApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_set_diff",
        parameters=[
            OpenApiParameter("from", str, required=True, description="A version ref."),
            OpenApiParameter("to", str, required=True, description="A version ref."),
        ],
        responses={200: DiffOutput, **ERRORS},
    )
    def get(self, request, slug):
        golden_set = _golden_set_for(request, slug)
        missing = {
            name: ["Required: a version number, `latest`, a tag or `sha256:<digest>`."]
            for name in ("from", "to")
            if not request.query_params.get(name)
        }
        if missing:
            raise exceptions.ValidationError(missing)
        old = version_for(golden_set, request.query_params["from"], name="from")
        new = version_for(golden_set, request.query_params["to"], name="to")
        diff = selectors.version_diff(golden_set=golden_set, old=old, new=new)
        return Response(DiffOutput(diff).data)


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
