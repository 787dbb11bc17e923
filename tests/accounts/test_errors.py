"""Error answers: API paths speak JSON in every mode; the embedded default is no debug run."""

import os
import subprocess
import sys

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.support import ROOT


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404_in_every_mode(settings, debug):
    settings.DEBUG = debug
    for path in ("/api/v1/no-such-thing", "/api/langsmith/no/such/thing", "/api/nope"):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"] == "not_found"
        assert "URLconf" not in response.content.decode()  # no pattern list


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.django_db
def test_a_wrong_method_on_an_api_path_is_a_json_405(settings, debug):
    settings.DEBUG = debug
    response = Client().delete("/api/langsmith/info")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.django_db
def test_a_host_not_allowed_is_a_json_400_on_api_paths_and_a_page_elsewhere(settings, debug):
    settings.DEBUG = debug
    response = Client(HTTP_HOST="evil.example").get("/api/v1/golden-sets/refunds/diff")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "bad_request",
        "detail": "The request was refused as malformed.",
    }
    page = Client(HTTP_HOST="evil.example").get("/accounts/login/")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_an_unknown_page_with_debug_off_lists_no_url_patterns(settings):
    settings.DEBUG = False
    response = Client().get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "URLconf" not in html


@pytest.mark.django_db
def test_favicon_answers_with_the_apps_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/triage/favicon.svg"
    with open(finders.find("triage/favicon.svg")) as icon:
        assert icon.read().startswith("<svg")


def test_debug_is_opt_in_even_in_the_embedded_default(tmp_path):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env["TRIAGE_DATA_DIR"] = str(tmp_path)  # no DATABASE_URL: the embedded shape
    show = "from django.conf import settings; print(settings.DEBUG)"

    def debug(**extra):
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]  # after the import note

    assert debug() == "False"
    assert debug(DEBUG="1") == "True"
