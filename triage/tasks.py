"""Celery tasks for the triage workflow: each looks its rows up by id and calls one service."""

import logging

from celery import shared_task

from accounts.models import Project

from . import (
    alerts,
    job,
    metrics,
    processing,
    proof,
    retention,
    services,
    stale_runs,
    traffic_drift,
    webhook_events,
)

logger = logging.getLogger(__name__)


@shared_task(name="triage.process_feedback", acks_late=True)
def process_feedback(*, event_ids=(), project_ids=()):
    """Process every pending event of these events' (or these) projects; see triage.processing."""
    result = processing.feedback_process(event_ids=event_ids, project_ids=project_ids)
    if result["unfinished_projects"]:  # out of time with events left: carry on in a new task
        process_feedback.apply_async(
            kwargs={"project_ids": result["unfinished_projects"]}, ignore_result=True
        )
    return result


def _project(project_id, task):
    """The project a task was queued for, or None (logged) if it was deleted since."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        logger.warning("%s: project %s is gone", task, project_id)
    return project


# acks_late + reject-on-worker-lost: a worker killed mid-run hands the task to another,
# which carries on from the last committed batch (the job is idempotent).
@shared_task(name="triage.run_job", acks_late=True)
def run_job(*, project_id, triage_run_id=None):
    project = _project(project_id, "triage.run_job")
    return job.triage_job_execute(project=project, triage_run_id=triage_run_id) if project else None


@shared_task(name="triage.resume_stale_runs")
def resume_stale_runs():
    """Beat's check for runs whose worker died: interrupted, then carried on by a new run."""
    resumed = stale_runs.triage_runs_resume_stale()
    for project_id, triage_run_id in resumed:  # committed by now: the worker finds the row
        run_job.delay(project_id=project_id, triage_run_id=triage_run_id)
    return len(resumed)


@shared_task(name="triage.run_all_projects")
def run_all_projects():
    for project_id in Project.objects.values_list("pk", flat=True):
        run_job.delay(project_id=project_id)


@shared_task(name="triage.drift_check", acks_late=True)
def drift_check(*, project_id):
    project = _project(project_id, "triage.drift_check")
    return job.drift_check(project=project) if project else None


@shared_task(name="triage.drift_all_projects")
def drift_all_projects():
    for project_id in Project.objects.values_list("pk", flat=True):
        drift_check.delay(project_id=project_id)


@shared_task(name="triage.expire_leases")
def expire_leases():
    return services.queue_leases_expire()


@shared_task(name="triage.p0_alerts")
def p0_alerts():
    return webhook_events.p0_alerts_emit()


@shared_task(name="triage.clusters_proof_check", acks_late=True)
def clusters_proof_check(*, golden_set_id, case_ids):
    return proof.clusters_proof_check(golden_set_id=golden_set_id, case_ids=case_ids)


@shared_task(name="triage.metrics_rollup")
def metrics_rollup():
    """Production-health rollup of this hour and the last, today and yesterday."""
    return metrics.metrics_rollup_recent()


@shared_task(name="triage.alerts_evaluate")
def alerts_evaluate():
    """Symptom alerts: one evaluation cycle for every project."""
    return alerts.alerts_evaluate_all()


@shared_task(name="triage.traffic_drift_check", acks_late=True)
def traffic_drift_check(*, project_id):
    project = _project(project_id, "triage.traffic_drift_check")
    return traffic_drift.traffic_drift_check(project=project) if project else None


@shared_task(name="triage.traffic_drift_all_projects")
def traffic_drift_all_projects():
    for project_id in Project.objects.values_list("pk", flat=True):
        traffic_drift_check.delay(project_id=project_id)


@shared_task(name="triage.raw_retention_purge")
def raw_retention_purge():
    """Raw text past TRIAGE_RAW_RETENTION_DAYS gives way to scrubbed copies (hourly)."""
    return retention.raw_retention_purge_all()
