import logging

from celery import shared_task

from feedback.models import TracingSession

from . import results

logger = logging.getLogger(__name__)


@shared_task(name="datasets.experiment_results_refresh", acks_late=True)
def experiment_results_refresh(*, project_id, session_id):
    session = (
        TracingSession.objects.filter(project_id=project_id, session_id=session_id)
        .select_related("project")
        .first()
    )
    if session is None or not session.is_experiment:
        logger.warning("datasets.experiment_results_refresh: no experiment %s", session_id)
        return None
    run = results.experiment_results_refresh(project=session.project, session=session)
    return run.pk if run else None
