"""Golden sets as LangSmith datasets, under /api/langsmith: what `Client.read_dataset`,
`has_dataset`, `list_datasets`, `list_examples`, `list_dataset_versions`,
`read_dataset_version` and `evaluate(data="<slug>")` call.

A golden set is a dataset named by its slug; each published version is a dataset version
(`as_of` = its publish time, `tags` = its tags); each case is an example whose id is stable
across versions, with inputs = the case input, outputs = the expected output and metadata
carrying case id, criteria, split, failure mode and source. Examples of a version carry
its publish time as `modified_at`, so `evaluate()` reports back exactly which version it ran.
"""

import uuid

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERROR, drf_error

from . import selectors
from .models import GoldenSet, GoldenSetVersion
from .results import case_uuid, golden_set_uuid

ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 429)}
LIST = {"type": "array", "items": {"type": "object"}}
OBJECT = {"type": "object"}
MAX_PAGE = 100


def _page(request):
    try:
        offset = max(int(request.query_params.get("offset", 0)), 0)
        limit = min(max(int(request.query_params.get("limit", MAX_PAGE)), 1), MAX_PAGE)
    except ValueError:
        return None
    return offset, limit


def _bad_page():
    return drf_error(400, "invalid", "limit and offset must be integers.", {"limit": ["?"]})


def _not_found(what):
    return drf_error(404, "not_found", f"No dataset {what}.")


def _golden_set(request, dataset_id):
    try:
        wanted = uuid.UUID(str(dataset_id))
    except ValueError:
        return None
    return next(
        (
            g
            for g in GoldenSet.objects.filter(project=request.user.project)
            if golden_set_uuid(g) == wanted
        ),
        None,
    )


def _versions(golden_set):
    return GoldenSetVersion.objects.filter(golden_set=golden_set).defer("body").order_by("-number")


def dataset_view(golden_set):
    latest = _versions(golden_set).first()
    return {
        "id": str(golden_set_uuid(golden_set)),
        "name": golden_set.slug,
        "description": golden_set.name,
        "data_type": "kv",
        "created_at": golden_set.created_at.isoformat(),
        "modified_at": (latest.published_at if latest else golden_set.created_at).isoformat(),
        "example_count": latest.case_count if latest else 0,
        "session_count": 0,
        "metadata": {"golden_set": golden_set.slug, "latest_version": latest and latest.number},
    }


def version_view(version):
    return {"tags": version.tags, "as_of": version.published_at.isoformat()}


def version_at(golden_set, as_of):
    """`as_of` is a tag (`prod`), a ref (`latest`, a number) or a time: the newest version
    published at or before it. None (not given) means the latest."""
    if not as_of:
        return _versions(golden_set).first()
    moment = parse_datetime(as_of)
    if moment is None:
        return selectors.version_resolve(golden_set=golden_set, ref=as_of)
    return _versions(golden_set).filter(published_at__lte=moment).first()


def example_view(golden_set, version, case):
    def as_dict(value, key):
        return value if isinstance(value, dict) else None if value is None else {key: value}

    return {
        "id": str(case_uuid(golden_set, case["case_id"])),
        "dataset_id": str(golden_set_uuid(golden_set)),
        "inputs": as_dict(case["input"], "input") or {},
        "outputs": as_dict(case["expected"], "output"),
        "metadata": {
            "case_id": case["case_id"],
            "criteria": case["criteria"],
            "split": case["split"],
            "dataset_split": [case["split"]],
            "failure_mode": case["failure_mode"],
            "source": case["source"],
            "tags": case["tags"],
            "golden_set_version": version.number,
        },
        "created_at": version.published_at.isoformat(),
        "modified_at": version.published_at.isoformat(),
    }


class LangSmithDatasetsApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(operation_id="langsmith_datasets_list", responses={200: LIST, **ERRORS})
    def get(self, request):
        page = _page(request)
        if page is None:
            return _bad_page()
        sets = GoldenSet.objects.filter(project=request.user.project).order_by("slug")
        query = request.query_params
        if query.get("name"):
            sets = sets.filter(slug=query["name"])
        if query.get("name_contains"):
            sets = sets.filter(slug__icontains=query["name_contains"])
        views = [dataset_view(g) for g in sets]
        if query.getlist("id"):
            views = [v for v in views if v["id"] in set(query.getlist("id"))]
        offset, limit = page
        return Response(views[offset : offset + limit])


class LangSmithDatasetApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(operation_id="langsmith_dataset_read", responses={200: OBJECT, **ERRORS})
    def get(self, request, dataset_id):
        golden_set = _golden_set(request, dataset_id)
        return Response(dataset_view(golden_set)) if golden_set else _not_found(dataset_id)


class LangSmithDatasetVersionsApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(operation_id="langsmith_dataset_versions", responses={200: LIST, **ERRORS})
    def get(self, request, dataset_id):
        golden_set, page = _golden_set(request, dataset_id), _page(request)
        if golden_set is None:
            return _not_found(dataset_id)
        if page is None:
            return _bad_page()
        offset, limit = page
        return Response([version_view(v) for v in _versions(golden_set)[offset : offset + limit]])


class LangSmithDatasetVersionApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(operation_id="langsmith_dataset_version", responses={200: OBJECT, **ERRORS})
    def get(self, request, dataset_id):
        golden_set = _golden_set(request, dataset_id)
        if golden_set is None:
            return _not_found(dataset_id)
        ref = request.query_params.get("tag") or request.query_params.get("as_of")
        version = version_at(golden_set, ref) if ref else None
        if version is None:
            return drf_error(404, "not_found", f"No version '{ref}' of '{golden_set.slug}'.")
        return Response(version_view(version))


class LangSmithExamplesApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="langsmith_examples_list",
        parameters=[
            OpenApiParameter(
                "dataset",
                str,
                required=True,
                pattern="^[^\\u0000]+$",
                description="The dataset's id or name.",
            )
        ],
        responses={200: LIST, **ERRORS},
    )
    def get(self, request):
        query, page = request.query_params, _page(request)
        if page is None:
            return _bad_page()
        if not query.get("dataset"):
            return drf_error(400, "invalid", "Name a dataset.", {"dataset": ["Required."]})
        golden_set = _golden_set(request, query["dataset"])
        if golden_set is None:
            return _not_found(query["dataset"])
        version = version_at(golden_set, query.get("as_of"))
        if version is None:
            return Response([])
        version = GoldenSetVersion.objects.get(pk=version.pk)  # with its body
        cases = list(selectors.version_cases(version=version))
        splits = set(query.getlist("splits"))
        if splits:
            cases = [c for c in cases if c["split"] in splits]
        views = [example_view(golden_set, version, c) for c in cases]
        if query.getlist("id"):
            views = [v for v in views if v["id"] in set(query.getlist("id"))]
        offset, limit = page
        return Response(views[offset : offset + limit])
