"""One JSON error shape for every API failure: {"error", "detail", "fields"?}."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/v1/")


ERROR = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(), required=False),
    },
)
# For extend_schema(responses={…, **ERRORS}): every API view may answer these.
ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409, 413, 429)}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The resource exists with different content."


def _flatten(detail, prefix=""):
    """DRF's nested error detail → {"field.path": ["message", …]}."""
    out = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a list serializer's errors are keyed by index
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and prefix:
                name = prefix
            out.update(_flatten(value, name))
    elif isinstance(detail, list) and detail and not all(isinstance(d, str) for d in detail):
        for index, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}[{index}]" if prefix else str(index)))
    else:
        messages = detail if isinstance(detail, list) else [detail]
        out[prefix or "body"] = [str(m) for m in messages]
    return out


def validation_fields(detail):
    return _flatten(detail)


def error_body(code, detail, fields=None):
    body = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return body


def api_exception_handler(exc, context):
    # DRF answers Django's Http404 / PermissionDenied too, but as a bare exception with no
    # `detail`: use its own classes so the branches below see one kind.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = validation_fields(exc.detail)
        names = ", ".join(sorted(fields))
        response.data = error_body("invalid", f"Invalid value for: {names}.", fields)
    elif isinstance(exc, exceptions.ParseError):
        # accounts.jsonbody's parse errors name the field and say what (too deep, …).
        fields = getattr(exc, "fields", None) or {"body": [str(exc.detail)]}
        code = getattr(exc, "code", "malformed_body")
        response.data = error_body(code, str(exc.detail), fields)
    else:
        code = getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            code = "unauthenticated"
            response.status_code = status.HTTP_401_UNAUTHORIZED
        elif isinstance(exc, exceptions.PermissionDenied):
            code = "forbidden"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = error_body(code, detail)
    return response


def json_error(status_code, code, detail, fields=None, headers=None):
    response = JsonResponse(error_body(code, detail, fields), status=status_code)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def drf_error(status_code, code, detail, fields=None):
    return Response(error_body(code, detail, fields), status=status_code)


class ApiBodyLimitMiddleware:
    """A 413 with the JSON error shape before anything reads an oversized API body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if length > limit:
                return json_error(
                    413, "body_too_large", f"Request body is {length} bytes; the limit is {limit}."
                )
        return self.get_response(request)


class ApiErrorShapeMiddleware:
    """API paths answer 400, 404 and 405 in the JSON error shape, in every mode.

    `handler404` is not consulted with DEBUG on (Django renders its technical page, which
    lists every URL pattern), Django's own 405 has an empty HTML body, and a request Django
    refuses before any view (a Host not in ALLOWED_HOSTS) gets its HTML 400 page. This
    rewrites any such non-JSON answer under an API prefix, whatever produced it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code in (400, 404, 405)
            and request.path.startswith(API_PREFIXES)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            if response.status_code == 400:
                return json_error(400, "bad_request", "The request was refused as malformed.")
            if response.status_code == 404:
                return json_error(404, "not_found", f"No endpoint or object at {request.path}.")
            error = json_error(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.path}."
            )
            if response.has_header("Allow"):
                error["Allow"] = response["Allow"]
            return error
        return response


def handler404(request, exception=None):
    if request.path.startswith(API_PREFIXES):
        return json_error(404, "not_found", f"No endpoint or object at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith(API_PREFIXES):
        return json_error(500, "server_error", "The server failed; the error was logged.")
    from django.views.defaults import server_error

    return server_error(request)
