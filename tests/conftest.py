import os
import subprocess
import sys
import time

import langsmith
import pytest
from django.conf import settings
from django.test import Client
from langsmith import utils as ls_utils

from tests.factories import MembershipFactory, ProjectFactory, api_key_for
from tests.support import PRODUCTION_SHAPE, ROOT, worker_env

# Playwright's sync API runs an event loop in this thread; Django's ORM calls are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if PRODUCTION_SHAPE:
        return
    skip = pytest.mark.skip(reason="needs the production shape (DATABASE_URL + REDIS_URL)")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_ingest_caches():
    """Key lookups and in-process rate counters must not leak between tests."""
    from accounts.auth import key_cache
    from accounts.ratelimit import rate_limit_reset

    key_cache.clear()
    rate_limit_reset()


@pytest.fixture(autouse=True)
def _processing_finished():
    """Embedded, events are processed by a background thread after the response: let it
    finish a test's events before the test's database is flushed (and before the next
    test). Tests that look at processed rows wait with `processing_flush()` themselves."""
    yield
    from feedback.enqueue import processing_flush

    processing_flush()


@pytest.fixture
def project(db):
    return ProjectFactory(slug="acme", name="Acme support")


@pytest.fixture
def other_project(db):
    return ProjectFactory(slug="globex", name="Globex")


@pytest.fixture
def ingest_key(project):
    return api_key_for(project, scopes=["ingest"])


@pytest.fixture
def read_key(project):
    return api_key_for(project, scopes=["datasets:read"])


@pytest.fixture
def api(project):
    """A DRF-less plain client that sends the project's key on every request."""
    key = api_key_for(project)
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def lead(project):
    return MembershipFactory(project=project, role="lead", user__username="lena").user


@pytest.fixture
def reviewer(project):
    return MembershipFactory(project=project, role="reviewer", user__username="rico").user


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` subprocess on the test database and the test Redis.

    Module-scoped: it stops before other modules' live-server tests run, so it never
    consumes their tasks or holds locks while their database is flushed.
    """
    if not PRODUCTION_SHAPE:
        yield None  # embedded shape: tasks run in-process
        return
    import redis

    from config.celery import app

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "pytest@%h",
            ],
            cwd=ROOT,
            env=worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core machine starts it slowly
        while not app.control.ping(timeout=1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + log.read_text()[-4000:])
        proc.log_path = log
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def ls_env(live_server, project, monkeypatch):
    key = api_key_for(project, scopes=["ingest", "datasets:read", "results:write"])
    monkeypatch.setenv("LANGSMITH_ENDPOINT", f"{live_server.url}/api/langsmith")
    monkeypatch.setenv("LANGSMITH_API_KEY", key)
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.delenv("LANGSMITH_DISABLE_RUN_COMPRESSION", raising=False)
    ls_utils.get_env_var.cache_clear()
    ls_utils.get_tracer_project.cache_clear()
    yield key
    ls_utils.get_env_var.cache_clear()


@pytest.fixture
def ls_client(ls_env):
    """langsmith.Client(...) closed after the test: a client left to the garbage collector
    drops its keep-alive connections later, under another test's database connection."""
    clients = []

    def make(**kwargs):
        clients.append(langsmith.Client(**kwargs))
        return clients[-1]

    yield make
    for client in clients:
        if hasattr(client, "close"):  # langsmith < 0.4 has no close()
            client.close()
