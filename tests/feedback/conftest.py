import contextlib
import socket
import subprocess
import sys

import langsmith
import pytest
import requests
from langsmith import utils as ls_utils

from tests.conftest import ROOT, _worker_env, wait_for
from tests.factories import api_key_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn_server(log_dir, **env):
    """The app the production way (gunicorn, one worker) on the test database; yields its URL.

    `env` overrides the environment (e.g. a dead REDIS_URL).
    """
    port = free_port()
    log_path = log_dir / "gunicorn.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT, env={**_worker_env(), "DEBUG": "0", **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{url}/api/langsmith/info", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return proc.poll() is not None  # died: fail below with its log

    try:
        wait_for(up, timeout=60, what="gunicorn to start")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def ls_env(live_server, project, monkeypatch):
    key = api_key_for(project, scopes=["ingest"])
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
        client.close()
