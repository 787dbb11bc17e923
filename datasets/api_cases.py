"""Public API for a golden set's working copy: list, read, edit and import cases.

(Beside api.py, which serves versions, to keep each module short.)
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS, drf_error

from . import importing, results, selectors, services
from .api import InvalidValues, _golden_set_for, _valid, read_or_admin
from .models import CASE_FIELDS, Case

MAX_PAGE = 5000


class CaseOutput(serializers.Serializer):
    case_id = serializers.CharField()
    revision = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Case.Status.choices)
    split = serializers.ChoiceField(choices=Case.Split.choices)
    source = serializers.CharField()
    input = serializers.JSONField()
    expected = serializers.JSONField(allow_null=True)
    criteria = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    failure_mode = serializers.CharField()
    queue_item = serializers.IntegerField(source="queue_item_id", allow_null=True)
    first_published_version = serializers.IntegerField(
        source="first_published_version.number", allow_null=True, default=None
    )
    last_result = serializers.SerializerMethodField(
        help_text="The latest CI result (results API or evaluate()); null: never run."
    )

    def get_last_result(self, case) -> dict | None:
        latest = self.context.get("latest_results")
        if latest is None:  # one case: look it up
            latest = results.latest_results(case.golden_set, [case.case_id])
        row = latest.get(case.case_id)
        return results.case_result_view(row) if row else None


class RevisionOutput(serializers.Serializer):
    number = serializers.IntegerField(source="revision")
    changed = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    who = serializers.SerializerMethodField(help_text="A username, or the API key's prefix.")
    when = serializers.DateTimeField(source="created_at")
    first_version = serializers.IntegerField(
        allow_null=True, help_text="The first version holding it (the next one while pending)."
    )
    last_version = serializers.IntegerField(
        allow_null=True, help_text="The last version holding it; null while it is current."
    )
    pending = serializers.SerializerMethodField(help_text="Enters the next published version.")

    def get_who(self, revision) -> str | None:
        return revision.created_by.username if revision.created_by else (revision.via or None)

    def get_pending(self, revision) -> bool:
        first = revision.first_version
        return first is not None and first > self.context["latest"]


class CaseDetailOutput(CaseOutput):
    revisions = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    def get_revisions(self, case) -> list[dict]:
        latest = selectors.latest_version_number(golden_set=case.golden_set)
        revisions = selectors.case_revisions(case=case)
        return RevisionOutput(revisions, many=True, context={"latest": latest}).data

    def get_results(self, case) -> list[dict]:
        return [
            {**r, "created_at": r["created_at"].isoformat()}
            for r in results.case_results(case.golden_set, case.case_id)
        ]


def _json_object(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("Must be a JSON object.")
    return value


class CasePatchInput(serializers.Serializer):
    input = serializers.JSONField(required=False, validators=[_json_object])
    expected = serializers.JSONField(required=False, allow_null=True)
    criteria = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(
        child=serializers.RegexField(importing.TAG_RE), required=False, max_length=50
    )
    failure_mode = serializers.CharField(required=False, allow_blank=True, max_length=32)
    split = serializers.ChoiceField(choices=Case.Split.choices, required=False)
    status = serializers.ChoiceField(choices=Case.Status.choices, required=False)

    def validate_expected(self, value):
        return value if value is None else _json_object(value)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(CASE_FIELDS))
        if unknown:
            raise serializers.ValidationError(
                {name: [f"Not editable; use any of {', '.join(CASE_FIELDS)}."] for name in unknown}
            )
        if not data:
            raise serializers.ValidationError({"body": [f"Send any of {', '.join(CASE_FIELDS)}."]})
        return super().to_internal_value(data)


def _case_for(golden_set, case_id):
    case = golden_set.cases.select_related("first_published_version").filter(case_id=case_id)
    case = case.first()
    if case is None:
        raise exceptions.NotFound(f"No case '{case_id}' in golden set '{golden_set.slug}'.")
    return case


class GoldenSetCaseListApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="golden_set_working_copy",
        parameters=[
            OpenApiParameter("status", str, enum=list(Case.Status.values), required=False),
            OpenApiParameter("limit", int, required=False, description=f"At most {MAX_PAGE}."),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: CaseOutput(many=True), **ERRORS},
    )
    def get(self, request, slug):
        golden_set = _golden_set_for(request, slug)
        params = request.query_params
        status_ = params.get("status")
        if status_ not in (None, *Case.Status.values):
            raise exceptions.ValidationError({"status": [f"One of {', '.join(Case.Status)}."]})
        page = {}
        for name, default in (("limit", 1000), ("offset", 0)):
            try:
                page[name] = int(params.get(name, default))
            except ValueError:
                page[name] = -1
            if page[name] < 0:
                raise exceptions.ValidationError({name: ["A whole number, 0 or more."]})
        limit, offset = min(page["limit"], MAX_PAGE), page["offset"]
        cases = selectors.cases_working_copy(golden_set=golden_set, status=status_)
        rows = list(cases.select_related("first_published_version")[offset : offset + limit])
        latest = results.latest_results(golden_set, [c.case_id for c in rows])
        response = Response(CaseOutput(rows, many=True, context={"latest_results": latest}).data)
        response["X-Total-Count"] = str(cases.count())
        return response


class GoldenSetCaseApi(APIView):
    permission_classes = [read_or_admin()]

    @extend_schema(operation_id="golden_set_case", responses={200: CaseDetailOutput, **ERRORS})
    def get(self, request, slug, case_id):
        case = _case_for(_golden_set_for(request, slug), case_id)
        return Response(CaseDetailOutput(case).data)

    @extend_schema(
        operation_id="golden_set_case_edit",
        request=CasePatchInput,
        responses={200: CaseDetailOutput, **ERRORS},
    )
    def patch(self, request, slug, case_id):
        case = _case_for(_golden_set_for(request, slug), case_id)
        changes = _valid(CasePatchInput, request.data)
        case = services.case_update(case=case, changes=changes, user=None, via=str(request.user))
        case = _case_for(case.golden_set, case.case_id)
        return Response(CaseDetailOutput(case).data)


class ImportOutput(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    case_ids = serializers.ListField(child=serializers.CharField())


def import_rows(*, content_type, raw):
    """Bytes of an upload → rows, or ImportInvalid naming each bad line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise importing.ImportInvalid({"body": ["The file is not UTF-8 text."]}) from exc
    if content_type in ("text/csv", "application/csv"):
        return importing.parse_csv(text)
    return importing.parse_ndjson(text)


IMPORT_TYPES = ("application/x-ndjson", "application/jsonl", "text/csv", "application/csv")


class GoldenSetImportApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="golden_set_import",
        request={
            "application/x-ndjson": OpenApiTypes.STR,
            "text/csv": OpenApiTypes.STR,
        },
        responses={
            201: ImportOutput,
            400: OpenApiResponse(
                description='Any bad line: fields {"line <n>": […]}; nothing is imported.'
            ),
            **{k: v for k, v in ERRORS.items() if k != 400},
        },
    )
    def post(self, request, slug):
        golden_set = _golden_set_for(request, slug)
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type not in IMPORT_TYPES:
            return drf_error(
                415,
                "unsupported_media_type",
                "Send the cases as application/x-ndjson or text/csv.",
                {"Content-Type": [f"'{content_type}' is not application/x-ndjson or text/csv."]},
            )
        raw = request.body
        limit = settings.TRIAGE_IMPORT_MAX_BYTES
        if len(raw) > limit:
            return drf_error(
                413,
                "body_too_large",
                f"The file is {len(raw)} bytes; imports are limited to {limit}.",
                {"file": [f"Larger than {limit} bytes; split it into smaller files."]},
            )
        try:
            rows = import_rows(content_type=content_type, raw=raw)
        except importing.ImportInvalid as exc:
            raise InvalidValues(exc.fields) from exc
        result = services.cases_import(
            golden_set=golden_set, rows=rows, user=None, via=str(request.user)
        )
        return Response(ImportOutput(result).data, status=status.HTTP_201_CREATED)
