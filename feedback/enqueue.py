"""Announcing committed feedback to processing, off the request's critical path.

Processing lives above ingest (the triage app), so it hears of new rows through the
`feedback_committed` signal, whose receiver publishes the Celery task. The rows are
committed before anything here runs, so this is only about latency: a Celery publish costs
a request ~1–2 ms (message building, a Redis round trip). In production a
per-process background thread publishes instead, coalescing the projects of the requests
that arrive within 100 ms (or while it is busy) into one task. If the process dies before
publishing, or the broker is down, nothing is lost: the periodic sweeper
(`feedback.sweep_unprocessed`) re-enqueues every row still unprocessed.

In the embedded shape (no broker, Celery eager) the same thread runs the processing
itself, after the response: a request never waits for scrubbing and clustering. It
gathers what arrives within TRIAGE_EMBEDDED_PROCESS_DELAY (0.2 s) into one task, so
processing costs per batch, not per event. `processing_flush()` waits for it (tests).
"""

import atexit
import logging
import os
import threading
import time

from django.conf import settings
from django.db import connections

from .signals import feedback_committed

logger = logging.getLogger(__name__)

# A task processes every pending event of its project (triage.processing), so what one
# window's task misses the next one takes: a wider window only means fewer, cheaper tasks.
COALESCE_SECONDS = 0.1


def processing_announce(project_ids):
    """Send `feedback_committed` for these projects now (in this thread)."""
    if not project_ids:
        return
    try:
        feedback_committed.send(sender=None, project_ids=sorted(project_ids))
    except Exception:  # broker away (or, embedded, processing failed): rows are
        # committed and still unprocessed, so the sweeper will try them again
        logger.warning(
            "could not enqueue or process new feedback of projects %s; the sweeper will retry",
            sorted(project_ids),
            exc_info=settings.DEBUG,
        )


class _BackgroundPublisher:
    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = set()  # project ids
        self._busy = False
        self._pid = None
        self._thread = None

    def submit(self, project_id):
        with self._lock:
            self._pending.add(project_id)
            # Threads do not survive fork (a preloading server): start one per process.
            if self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="feedback-enqueue", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self):
        while True:
            with self._lock:
                while not self._pending:
                    self._busy = False
                    self._wake.notify_all()
                    self._wake.wait()
                self._busy = True
            # Let ids from requests arriving just behind this one join the same task: one
            # publish (~1 ms of CPU) per window instead of per request.
            eager = settings.CELERY_TASK_ALWAYS_EAGER
            time.sleep(settings.TRIAGE_EMBEDDED_PROCESS_DELAY if eager else COALESCE_SECONDS)
            with self._lock:
                batch, self._pending = self._pending, set()
            try:
                processing_announce(batch)
            finally:
                if eager:  # this thread used the database: do not hold a connection open
                    connections.close_all()

    def flush(self, timeout=10.0):
        """Wait until everything submitted so far is published (tests, shutdown)."""
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                return
            self._wake.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)


publisher = _BackgroundPublisher()
atexit.register(publisher.flush)


def processing_enqueue(*, project_id):
    """This project has new committed events: have them processed."""
    if settings.TRIAGE_ENQUEUE_IN_BACKGROUND:
        publisher.submit(project_id)
    else:
        processing_announce({project_id})


def processing_flush(timeout=30.0):
    """Wait until the events announced so far are published, or processed when embedded."""
    publisher.flush(timeout=timeout)
