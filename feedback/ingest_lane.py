"""POST /api/v1/feedback answered straight from WSGI (config/wsgi.py sends it here).

Django's handler, the API middleware and DRF's view cost a single post more CPU than the
ingest itself (bench/ingest.py --profile). A plain post (JSON within the size limit, an
allowed host, a live key that may ingest, under its rate limit) is answered here by the
functions FeedbackApi uses. Anything else goes to Django, which answers it in full.

The lane's answers carry the headers Django's chain put on this endpoint's first success
for the same scheme (security headers, CSP, Allow): they depend on settings and scheme
only, so they are learned from Django rather than written a second time. Until then the
lane leaves posts to Django.
"""

import http
import io

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import close_old_connections, reset_queries
from django.http import HttpResponse
from django.utils.log import log_response
from rest_framework.renderers import JSONRenderer

from accounts.auth import api_key_lookup, raw_key_from_headers
from accounts.errors import error_body
from accounts.jsonbody import JsonInvalid, json_parse
from accounts.ratelimit import rate_limit_hit

from . import services
from .serializers import MAX_BATCH

PATH = "/api/v1/feedback"
# The lane counted this post against the rate limit and was refused: FeedbackApi refuses
# it without counting it again.
THROTTLE_WAIT_KEY = "triage.ingest_throttle_wait"


class IngestLane:
    def __init__(self, django_app):
        self.django_app = django_app
        self.headers = {}  # is_secure → Django's headers for a JSON success, sans length
        setting_changed.connect(self._forget)  # settings change in tests only

    def _forget(self, **kwargs):
        self.headers = {}

    def __call__(self, environ, start_response):
        """config/wsgi.py calls this for PATH only."""
        if environ.get("REQUEST_METHOD") != "POST":
            return self.django_app(environ, start_response)
        request = WSGIRequest(environ)
        secure = request.is_secure()
        headers = self.headers.get(secure)
        if headers is None:
            return self.django_app(environ, self._learn(secure, start_response))
        # Of request_started's and request_finished's receivers (~55 µs a post) the lane
        # needs the database's: a connection that broke or outlived CONN_MAX_AGE is closed
        # before and after, as Django's handler does. (It uses no cache and no urlconf.)
        close_old_connections()
        if settings.DEBUG:
            reset_queries()
        try:
            answer = _answer(request)
        except Exception as exc:  # as Django's handler: logged, a 500 (handler500's JSON)
            response = response_for_exception(request, exc)
            answer = response.status_code, response.content
            headers = [h for h in headers if h[0] != "Content-Type"]
            headers.append(("Content-Type", response["Content-Type"]))
        finally:
            close_old_connections()
        if answer is None:
            return self.django_app(environ, start_response)
        status, body = answer
        start_response(
            f"{status} {http.HTTPStatus(status).phrase}",
            [*headers, ("Content-Length", str(len(body)))],
        )
        return [body]

    def _learn(self, secure, start_response):
        def recording(status, headers, exc_info=None):
            if status[:3] in ("200", "201") and ("Content-Type", "application/json") in headers:
                self.headers[secure] = [h for h in headers if h[0] != "Content-Length"]
            return start_response(status, headers, exc_info)

        return recording


def _answer(request):
    """(status, JSON bytes) for a post the lane takes, or None: Django answers it."""
    meta = request.META
    if (
        request.content_type != "application/json"
        or request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8")
        or meta.get("HTTP_CONTENT_ENCODING")
        or meta.get("HTTP_ACCEPT", "*/*") not in ("*/*", "application/json")
        or not meta.get("CONTENT_LENGTH", "").isdigit()
        or int(meta["CONTENT_LENGTH"]) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # a 413
        # What the security and common middleware would redirect or refuse:
        or (settings.SECURE_SSL_REDIRECT and not request.is_secure())
        or settings.PREPEND_WWW
        or settings.DISALLOWED_USER_AGENTS
    ):
        return None
    try:
        request.get_host()
    except DisallowedHost:
        return None
    raw = raw_key_from_headers(request)
    key = api_key_lookup(raw) if raw else None
    if key is None or not key.has_scope("ingest"):
        return None
    wait = rate_limit_hit(key=key.key_hash[:24])  # as ApiKeyRateThrottle counts it
    body = request.body
    meta["wsgi.input"] = io.BytesIO(body)  # for Django, should it answer after all
    if wait:
        meta[THROTTLE_WAIT_KEY] = wait
        return None
    try:
        data = json_parse(body)
    except JsonInvalid:
        return None
    if not isinstance(data, dict):
        return None
    if "events" in data:
        events = data["events"]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            return None
        results = services.feedback_ingest_many(project=key.project, raw_events=events)
        return 200, JSONRenderer().render({"results": [r.as_json() for r in results]})
    (result,) = services.feedback_ingest_many(project=key.project, raw_events=[data])
    status, body = single_result_answer(result)
    content = JSONRenderer().render(body)
    if status >= 400:  # logged as Django's handler logs it
        response = HttpResponse(content, status=status)
        message = f"{response.reason_phrase}: {request.path}"
        log_response(message, response=response, request=request)
    return status, content


def single_result_answer(result):
    """One ingested event → (status, body): 201 created, 200 duplicate, 409 conflict or 400
    naming the fields. FeedbackApi answers with it too."""
    if result.status == "error":
        names = ", ".join(sorted(result.errors))
        return 400, error_body("invalid", f"Invalid value for: {names}.", result.errors)
    if result.status == "conflict":
        detail = f"Feedback id '{result.id}' was already used with a different body."
        return 409, error_body("conflict", detail)
    return 201 if result.status == "created" else 200, {"id": result.id, "status": result.status}
