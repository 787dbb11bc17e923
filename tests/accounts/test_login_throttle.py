"""Login throttling (django-axes) on the reviewer and the admin login, and the admin's path."""

import contextlib
import importlib

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.urls import clear_url_caches

import config.urls
from tests.factories import UserFactory

LOGIN = "/accounts/login/"
LIMIT = 5  # TRIAGE_LOGIN_FAILURE_LIMIT's default


def _post_login(client, username, password, url=LOGIN):
    return client.post(url, {"username": username, "password": password})


def _fail(client, username, times, url=LOGIN):
    """Wrong passwords; the statuses answered (the form again is 200, the lockout 429)."""
    return [_post_login(client, username, "wrong-password", url).status_code for _ in range(times)]


def _client(ip):
    return Client(REMOTE_ADDR=ip)


@pytest.fixture
def ana(db):
    return UserFactory(username="ana")


def test_after_the_limit_of_wrong_passwords_the_right_one_is_refused(ana):
    client = _client("198.51.100.7")
    # The failure that reaches the limit is already answered with the lockout.
    assert _fail(client, "ana", LIMIT) == [200] * (LIMIT - 1) + [429]

    response = _post_login(client, "ana", "pw-for-tests")

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    page = response.content.decode()
    assert "Too many failed logins" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session
    # Still refused on the next try: the lock holds, it is not a one-off.
    assert _post_login(client, "ana", "pw-for-tests").status_code == 429
    attempt = AccessAttempt.objects.get(username="ana")
    assert attempt.ip_address == "198.51.100.7" and attempt.failures_since_start > LIMIT


def test_under_the_limit_the_right_password_logs_in_and_resets_the_count(ana):
    client = _client("198.51.100.7")
    assert _fail(client, "ana", LIMIT - 1) == [200] * (LIMIT - 1)

    response = _post_login(client, "ana", "pw-for-tests")

    assert response.status_code == 302 and client.session["_auth_user_id"] == str(ana.pk)
    assert not AccessAttempt.objects.filter(username="ana").exists()


def test_the_lock_is_per_username_and_ip_pair(ana):
    UserFactory(username="bo")
    attacker = _client("198.51.100.7")
    _fail(attacker, "ana", LIMIT)

    # Another user behind the same address (an office NAT) still logs in ...
    colleague = _client("198.51.100.7")
    assert _post_login(colleague, "bo", "pw-for-tests").status_code == 302
    # ... and so does ana herself from her own address.
    ana_at_home = _client("203.0.113.20")
    assert _post_login(ana_at_home, "ana", "pw-for-tests").status_code == 302
    assert _post_login(_client("198.51.100.7"), "ana", "pw-for-tests").status_code == 429


def test_a_spoofed_forwarded_for_header_does_not_dodge_the_lock(ana):
    for n in range(LIMIT):
        client = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")
        _fail(client, "ana", 1)

    client = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.9.9.99")
    assert _post_login(client, "ana", "pw-for-tests").status_code == 429


@override_settings(TRIAGE_PROXY_COUNT=1)
def test_behind_a_proxy_the_lock_keys_on_the_address_the_proxy_appended(ana):
    # The proxy (REMOTE_ADDR 10.0.0.2) appends the peer it saw; the client's own left-hand
    # entries change every time and must not matter.
    for n in range(LIMIT):
        client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 198.51.100.7")
        _fail(client, "ana", 1)

    locked = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.99, 198.51.100.7")
    assert _post_login(locked, "ana", "pw-for-tests").status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert _post_login(other, "ana", "pw-for-tests").status_code == 302


def test_the_lockout_page_is_the_same_for_an_unknown_username(ana):
    known, unknown = _client("198.51.100.7"), _client("198.51.100.8")
    _fail(known, "ana", LIMIT)
    _fail(unknown, "nobody-here", LIMIT)

    a = _post_login(known, "ana", "pw-for-tests")
    b = _post_login(unknown, "nobody-here", "pw-for-tests")

    assert a.status_code == b.status_code == 429
    assert a["Retry-After"] == b["Retry-After"]
    strip = lambda r: r.content.decode().split("<main>")[1]  # noqa: E731 (past the CSRF bits)
    assert strip(a) == strip(b)
    assert "ana" not in strip(a)


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_limit_is_a_setting(ana):
    client = _client("198.51.100.7")
    _fail(client, "ana", 2)
    assert _post_login(client, "ana", "pw-for-tests").status_code == 429


@contextlib.contextmanager
def _admin_at(path):
    """Reload the root URLconf under another TRIAGE_ADMIN_PATH (it is read at import)."""
    try:
        with override_settings(TRIAGE_ADMIN_PATH=path):
            importlib.reload(config.urls)
            clear_url_caches()
            yield
    finally:
        importlib.reload(config.urls)
        clear_url_caches()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_the_admin_login_is_throttled_too(admin_user):
    client = _client("198.51.100.7")
    url = "/admin/login/?next=/admin/"
    assert _fail(client, "root", LIMIT, url=url) == [200] * (LIMIT - 1) + [429]

    response = _post_login(client, "root", "pw-for-tests", url=url)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still not logged in: to the login


def test_the_admin_lives_at_the_configured_path(admin_user):
    with _admin_at("ops-7f3a9c/"):
        client = _client("198.51.100.7")
        assert client.get("/admin/").status_code == 404
        assert client.get("/admin/login/").status_code == 404
        login = client.get("/ops-7f3a9c/login/")
        assert login.status_code == 200 and b"Django administration" in login.content

        response = _post_login(client, "root", "pw-for-tests", url="/ops-7f3a9c/login/")
        assert response.status_code == 302
        assert b"Site administration" in client.get("/ops-7f3a9c/").content
