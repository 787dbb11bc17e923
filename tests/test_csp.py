"""Content-Security-Policy: every response carries it; templates keep to it."""

import re

import pytest
from django.test import Client

from tests.browser import hostile_queue
from tests.factories import UserFactory
from tests.support import ROOT

REQUIRED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(response):
    header = response["Content-Security-Policy"]
    return {
        name: " ".join(values)
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_policy(project, reviewer, api):
    item = hostile_queue(project, n=1)[0]
    browser = Client()
    responses = {
        "login": browser.get("/accounts/login/"),
        "admin login": browser.get("/admin/login/"),
        "healthz": browser.get("/healthz"),
        "not found": browser.get("/nowhere/"),
        "api": api.get("/api/v1/golden-sets"),
        "api error": Client().post("/api/v1/feedback", {}, content_type="application/json"),
    }
    browser.force_login(reviewer)
    for page in ("queue/", f"items/{item.pk}/", "weekly/", "golden-sets/", "time-to-eval/",
                 "incidents/", "health/", "overview/"):  # fmt: skip
        responses[page] = browser.get(f"/p/{project.slug}/{page}")
    responses["queue htmx swap"] = browser.get(
        f"/p/{project.slug}/queue/?category=billing", headers={"HX-Request": "true"}
    )
    for name, response in responses.items():
        assert response.status_code < 500, name
        got = policy(response)
        for directive, value in REQUIRED.items():
            assert got.get(directive) == value, (name, directive, got)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], name
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], name


@pytest.mark.django_db
def test_the_api_docs_get_their_own_policy_script_still_from_files_only():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    got = policy(response)
    assert got["script-src"] == "'self'" and got["frame-ancestors"] == "'none'"
    assert got["style-src"] == "'self' 'unsafe-inline'"  # Swagger UI's fixed <style> block
    page = response.content.decode()
    # No inline script: the init script is a file (the split view's ?script).
    assert not re.search(r"<script>(?!</script>)", page)
    script = Client().get("/api/docs/?script")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


INLINE = [
    (r"<script(?![^>]*\bsrc=)[^>]*>", "inline <script>"),
    (r"<style\b", "<style> block"),
    (r"\sstyle=", "style attribute"),
    (r"\son[a-z]+\s*=", "inline event handler"),
    (r"hx-on", "hx-on (evaluated by htmx)"),
    (r"js:|javascript:", "evaluated hx-vals / javascript: URL"),
]


def test_templates_have_no_inline_script_style_or_handler():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern, what in INLINE:
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


@pytest.mark.django_db
def test_the_lockout_page_carries_the_policy_too():
    UserFactory(username="ana")
    client = Client()
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "ana", "password": "nope"})
    assert response.status_code == 429
    assert policy(response)["script-src"] == "'self'"
