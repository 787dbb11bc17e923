
import langsmith
import pytest
from langsmith import utils as ls_utils

from tests.factories import api_key_for


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
