"""Runs whose worker died: found by their heartbeat, marked interrupted, resumed.

A triage run stamps `heartbeat_at` with every progress write (each clustering batch, each
phase, each queue item scrubbed). A run still "running" whose heartbeat is older than
TRIAGE_RUN_STALE_SECONDS lost its worker (killed, machine gone); beat's sweep marks it
interrupted and queues a new run that carries on: the job is incremental, so the new run
picks up exactly the events the dead one had not committed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import TriageRun

logger = logging.getLogger(__name__)


def _stale(now):
    cutoff = now - timedelta(seconds=settings.TRIAGE_RUN_STALE_SECONDS)
    return Q(status=TriageRun.Status.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )


def triage_run_claim(*, run):
    """Take a run row for this task: a queued one, or a running one whose worker died.

    False when it is over (done, failed, interrupted and resumed elsewhere) or another
    worker is alive on it: the broker redelivered the task (visibility timeout) and this
    copy must do nothing.
    """
    now = timezone.now()
    claimable = Q(status=TriageRun.Status.QUEUED) | _stale(now)
    claimed = TriageRun.objects.filter(claimable, pk=run.pk).update(
        status=TriageRun.Status.RUNNING, heartbeat_at=now
    )
    return claimed == 1


def triage_runs_resume_stale():
    """Mark runs whose heartbeat stopped as interrupted; queue one new run for each.

    Returns [(project id, new run id)] for the caller to enqueue after commit. Idempotent:
    the conditional update lets one sweep take each dead run, once.
    """
    now = timezone.now()
    resumed = []
    stale = TriageRun.objects.filter(_stale(now), kind="triage").order_by("pk")
    for run in stale.only("pk", "project_id", "requested_by_id", "done", "total"):
        with transaction.atomic():
            taken = TriageRun.objects.filter(_stale(now), pk=run.pk).update(
                status=TriageRun.Status.INTERRUPTED,
                finished_at=now,
                error="The worker stopped (no heartbeat); resumed by a new run.",
            )
            if not taken:
                continue
            new = TriageRun.objects.create(
                project_id=run.project_id,
                requested_by_id=run.requested_by_id,
                resumed_from_id=run.pk,
            )
        logger.warning(
            "triage run %s lost its worker at %s/%s events; resumed as run %s",
            run.pk, run.done, run.total, new.pk,
        )  # fmt: skip
        resumed.append((run.project_id, new.pk))
    return resumed
