"""LangSmith sessions ("tracing projects") under /api/langsmith: what `Client.create_project`,
`read_project`, `update_project` and `evaluate()` call. See feedback.experiments."""

import uuid

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERROR, drf_error

from . import experiments
from .models import TracingSession

ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409, 429)}
OBJECT = {"type": "object"}
# What the view checks: a name with something besides spaces and no NUL (accounts.jsonbody
# refuses NUL anywhere), ids as UUIDs (null: not given).
NAME = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
UUID = {"type": "string", "format": "uuid", "nullable": True}
SESSION_CREATE = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 300, "pattern": NAME},
        "id": UUID,
        "reference_dataset_id": UUID,
    },
}


def session_view(session):
    return {
        "id": str(session.session_id),
        "name": session.name,
        "description": session.description or None,
        "start_time": session.start_time.isoformat(),
        "end_time": session.end_time.isoformat() if session.end_time else None,
        "extra": session.extra or None,
        "reference_dataset_id": (
            str(session.reference_dataset_id) if session.reference_dataset_id else None
        ),
        "tenant_id": str(experiments.tenant_id(session.project)),
    }


def _uuid_or_none(value):
    """A UUID, None when absent, False when not a UUID."""
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return False


def _session(request, session_id):
    parsed = _uuid_or_none(session_id)
    session = parsed and (
        TracingSession.objects.select_related("project")
        .filter(project=request.user.project, session_id=parsed)
        .first()
    )
    if not session:
        return None, drf_error(404, "not_found", f"No session '{session_id}'.")
    return session, None


class LangSmithSessionsApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        operation_id="langsmith_sessions_list",
        responses={200: {"type": "array", "items": OBJECT}, **ERRORS},
    )
    def get(self, request):
        sessions = TracingSession.objects.filter(project=request.user.project).select_related(
            "project"
        )
        if request.query_params.get("name"):
            sessions = sessions.filter(name=request.query_params["name"])
        if request.query_params.get("reference_dataset"):
            parsed = _uuid_or_none(request.query_params["reference_dataset"])
            sessions = sessions.filter(reference_dataset_id=parsed) if parsed else sessions.none()
        try:
            offset = max(int(request.query_params.get("offset", 0)), 0)
            limit = min(max(int(request.query_params.get("limit", 100)), 1), 100)
        except ValueError:
            return drf_error(400, "invalid", "limit and offset are integers.", {"limit": ["?"]})
        page = sessions.order_by("-start_time", "-pk")[offset : offset + limit]
        return Response([session_view(s) for s in page])

    @extend_schema(
        operation_id="langsmith_session_create",
        request={"application/json": SESSION_CREATE},
        responses={200: OBJECT, **ERRORS},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 300:
            return drf_error(400, "invalid", "A session needs a name.", {"name": ["Required."]})
        dataset, session_id = (
            _uuid_or_none(data.get("reference_dataset_id")),
            _uuid_or_none(data.get("id")),
        )
        if dataset is False or session_id is False:
            field = "reference_dataset_id" if dataset is False else "id"
            return drf_error(400, "invalid", f"{field} must be a UUID.", {field: ["Not a UUID."]})
        extra = data.get("extra") if isinstance(data.get("extra"), dict) else {}
        try:
            session = experiments.tracing_session_create(
                project=request.user.project,
                name=name.strip(),
                description=str(data.get("description") or ""),
                reference_dataset_id=dataset,
                extra=extra,
                start_time=parse_datetime(str(data.get("start_time") or "")),
                session_id=session_id,
            )
        except experiments.SessionNameTaken as exc:
            return drf_error(409, "conflict", str(exc))
        return Response(session_view(session))


class LangSmithSessionApi(APIView):
    permission_classes = [scope_required("ingest")]

    @extend_schema(operation_id="langsmith_session_read", responses={200: OBJECT, **ERRORS})
    def get(self, request, session_id):
        session, error = _session(request, session_id)
        return error or Response(session_view(session))

    @extend_schema(
        operation_id="langsmith_session_update",
        request={"application/json": OBJECT},
        responses={200: OBJECT, **ERRORS},
    )
    def patch(self, request, session_id):
        session, error = _session(request, session_id)
        if error:
            return error
        data = request.data if isinstance(request.data, dict) else {}
        end_time = parse_datetime(str(data["end_time"])) if data.get("end_time") else None
        session = experiments.tracing_session_update(
            session=session,
            name=data.get("name") if isinstance(data.get("name"), str) else None,
            description=data.get("description") if isinstance(data.get("description"), str)
            else None,
            extra=data.get("extra") if isinstance(data.get("extra"), dict) else None,
            end_time=end_time,
        )  # fmt: skip
        return Response(session_view(session))
