"""config/wsgi.py: API paths run the shorter middleware chain and answer as the full one."""

import json

import pytest
from django.test import Client

from config.wsgi import api, pages
from feedback.models import FeedbackEvent
from tests.factories import api_key_for
from tests.support import wsgi_call

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_paths_skip_session_csrf_and_page_middleware_only():
    api_names = _middleware_names(api)
    page_names = _middleware_names(pages)
    assert "SessionMiddleware" in page_names and "SessionMiddleware" not in api_names
    assert "CsrfViewMiddleware" not in api_names and "SecurityMiddleware" in api_names
    assert "ApiErrorShapeMiddleware" in api_names and "XFrameOptionsMiddleware" in api_names


def _middleware_names(handler):
    """The middleware classes of a handler's chain, outermost first (Django wraps each
    instance in a closure, convert_exception_to_response)."""
    names, layer = [], handler._middleware_chain
    while True:
        cells = [cell.cell_contents for cell in getattr(layer, "__closure__", None) or ()]
        middleware = next((c for c in cells if hasattr(c, "get_response")), None)
        if middleware is None:
            return names
        names.append(type(middleware).__name__)
        layer = middleware.get_response


def test_a_post_through_the_api_chain_answers_like_the_full_chain(project):
    key = api_key_for(project)
    body = json.dumps({"id": "w-1", "rating": "down", "comment": "late refund"}).encode()
    status, headers, content = wsgi_call(
        "POST", "/api/v1/feedback", body, CONTENT_TYPE="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )  # fmt: skip
    full = Client(headers={"Authorization": f"Bearer {key}"}).post(
        "/api/v1/feedback",
        data=json.dumps({"id": "w-2", "rating": "down", "comment": "late refund"}),
        content_type="application/json",
    )
    assert status == full.status_code == 201
    assert content == full.content.replace(b"w-2", b"w-1")
    assert {k: v for k, v in headers.items() if k != "Content-Length"} == {
        k: v for k, v in full.items() if k != "Content-Length"
    }
    assert FeedbackEvent.objects.filter(client_id__in=["w-1", "w-2"]).count() == 2
