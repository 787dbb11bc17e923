"""create_project and add_member (API.md operator commands): what an operator sets up."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.test import Client

from accounts.models import Membership, Project

pytestmark = pytest.mark.django_db


def _run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_project_is_idempotent_and_keeps_the_first_name():
    _run("create_project", "acme", "--name", "Acme Corp")
    _run("create_project", "acme", "--name", "Renamed")
    assert list(Project.objects.values_list("slug", "name")) == [("acme", "Acme Corp")]


def test_create_project_refuses_a_slug_that_is_not_one():
    with pytest.raises(CommandError, match="not a slug"):
        _run("create_project", "Acme Corp")
    assert not Project.objects.exists()


def test_add_member_creates_the_user_prints_the_password_once_and_it_logs_in(monkeypatch):
    monkeypatch.delenv("TRIAGE_NEW_USER_PASSWORD", raising=False)
    _run("create_project", "acme")
    out = _run("add_member", "--project", "acme", "--username", "ana", "--role", "lead")
    password = out.split("password: ")[1].split()[0]
    membership = Membership.objects.get(user__username="ana", project__slug="acme")
    assert membership.role == "lead" and membership.can_publish
    assert Client().login(request=HttpRequest(), username="ana", password=password)

    # Again, as a reviewer: the role changes, the password does not, nothing is printed.
    again = _run("add_member", "--project", "acme", "--username", "ana", "--role", "reviewer")
    assert "password" not in again
    assert Membership.objects.get(user__username="ana").role == "reviewer"
    assert Client().login(request=HttpRequest(), username="ana", password=password)


def test_add_member_takes_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRIAGE_NEW_USER_PASSWORD", "from-the-env-1")
    _run("create_project", "acme")
    out = _run("add_member", "--project", "acme", "--username", "bo", "--role", "reviewer")
    assert "from-the-env-1" not in out
    assert get_user_model().objects.get(username="bo").check_password("from-the-env-1")


def test_add_member_refuses_an_unknown_project():
    with pytest.raises(CommandError, match="No project 'ghost'"):
        _run("add_member", "--project", "ghost", "--username", "ana", "--role", "lead")
    assert not get_user_model().objects.filter(username="ana").exists()
