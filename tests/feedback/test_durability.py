"""Nothing accepted is lost when the broker is down; the sweeper catches up once it is back."""

import os
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from feedback.models import FeedbackEvent
from feedback.tasks import sweep_unprocessed
from tests.factories import api_key_for
from tests.support import ROOT, wait_for, web_server, worker_env
from triage.models import Cluster
from triage.tasks import process_feedback

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def server_without_broker(tmp_path):
    """The app the production way (granian, PostgreSQL) but with Redis unreachable."""
    with web_server(tmp_path, REDIS_URL=DEAD_BROKER) as url:
        yield url


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A real worker for this test only, stopped before the database is flushed.

    (The session-wide worker would keep processing other tests' events during their
    teardown flush.)
    """
    import redis

    from config.celery import app

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "-n", f"durability-{os.getpid()}@%h"],
            cwd=ROOT, env=worker_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(
            lambda: proc.poll() is not None or app.control.ping(timeout=0.5),
            timeout=60,
            what="the celery worker",
        )
        assert proc.poll() is None, log.read_text()[-3000:]
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_broker_down_then_back(server_without_broker, project, worker):
    key = api_key_for(project, scopes=["ingest"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    url = server_without_broker
    started = time.monotonic()
    singles = [
        session.post(
            f"{url}/api/v1/feedback",
            json={"id": f"s-{i}", "trace_id": f"t-{i}", "rating": "down", "category": "billing",
                  "comment": f"charged twice for order {i}"},
            timeout=10,
        )
        for i in range(3)
    ]  # fmt: skip
    batch = session.post(
        f"{url}/api/v1/feedback",
        json={"events": [{"id": f"b-{i}", "rating": "down", "category": "wrong",
                          "comment": "the refund policy answer was wrong"} for i in range(20)]},
        timeout=10,
    )  # fmt: skip
    langsmith = session.post(
        f"{url}/api/langsmith/feedback",
        json={"id": "7f1c2f3a-0000-4000-8000-000000000001", "run_id": "r-1", "key": "user_score",
              "score": 0, "comment": "useless"},
        timeout=10,
    )  # fmt: skip
    # Publishing to the dead broker failed fast: 5 requests well inside one publish retry loop.
    assert time.monotonic() - started < 10
    assert [r.status_code for r in singles] == [201, 201, 201]
    assert batch.status_code == 200
    assert {r["status"] for r in batch.json()["results"]} == {"created"}
    assert langsmith.status_code == 200

    events = FeedbackEvent.objects.filter(project=project)
    assert events.count() == 24  # every accepted event is in the database
    assert not events.filter(processed_at__isnull=False).exists()  # and none was processed

    # The broker is back (this process and the worker use the live Redis): the sweeper,
    # run by the real worker, re-enqueues them and the worker processes every one.
    sweep_unprocessed.apply_async(kwargs={"older_than_seconds": 0})
    wait_for(
        lambda: not events.filter(processed_at__isnull=True).exists(),
        timeout=60,
        what="the sweeper and worker to process every event",
    )
    snapshot = sorted(events.values_list("pk", "cluster_id", "processed_at"))
    clusters = sorted(Cluster.objects.values_list("pk", "event_count"))
    assert sum(count for _, count in clusters) == 24

    # Processing twice changes nothing.
    ids = [pk for pk, _, _ in snapshot]
    process_feedback.apply_async(kwargs={"event_ids": ids}).get(timeout=30)
    assert sweep_unprocessed.apply_async(kwargs={"older_than_seconds": 0}).get(timeout=30) == 0
    assert sorted(events.values_list("pk", "cluster_id", "processed_at")) == snapshot
    assert sorted(Cluster.objects.values_list("pk", "event_count")) == clusters
    assert settings.REDIS_URL != DEAD_BROKER and os.environ.get("REDIS_URL") != DEAD_BROKER
