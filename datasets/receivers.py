"""Datasets' answers to what lower apps announce (connected in DatasetsConfig.ready)."""

import logging

from .tasks import experiment_results_refresh

logger = logging.getLogger(__name__)


def experiment_progressed_refresh(sender, *, project_id, session_ids, **kwargs):
    """An `evaluate()` experiment got runs or scores: rebuild its results run."""
    for session_id in session_ids:
        try:
            experiment_results_refresh.apply_async(
                kwargs={"project_id": project_id, "session_id": session_id}, ignore_result=True
            )
        except Exception:  # broker away: the next score, or the session's end, refreshes it
            logger.warning("could not enqueue the results refresh of experiment %s", session_id)
