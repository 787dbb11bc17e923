"""Triage's answers to what lower apps announce (connected in TriageConfig.ready)."""

import logging

from .tasks import clusters_proof_check, process_feedback

logger = logging.getLogger(__name__)


def feedback_committed_process(sender, *, project_ids, **kwargs):
    """New feedback rows are committed: process them (scrub, cluster, count)."""
    # ignore_result: no result-backend subscription, which retries ~20 s when Redis is
    # down; a dead broker fails in milliseconds instead (the sweeper retries later).
    process_feedback.apply_async(kwargs={"project_ids": project_ids}, ignore_result=True)


def case_results_recorded_check(sender, *, golden_set_id, case_ids, **kwargs):
    """Cases got CI results: are their clusters proven fixed, or regressed?"""
    try:
        clusters_proof_check.apply_async(
            kwargs={"golden_set_id": golden_set_id, "case_ids": case_ids}, ignore_result=True
        )
    except Exception:  # broker away: the next results for these cases check again
        logger.warning("could not enqueue the proof check of golden set %s", golden_set_id)
