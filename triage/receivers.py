"""Triage's answers to what lower apps announce (connected in TriageConfig.ready)."""

from .tasks import process_feedback


def feedback_committed_process(sender, *, event_ids, **kwargs):
    """New feedback rows are committed: process them (scrub, cluster, count)."""
    # ignore_result: no result-backend subscription, which retries ~20 s when Redis is
    # down; a dead broker fails in milliseconds instead (the sweeper retries later).
    process_feedback.apply_async(kwargs={"event_ids": event_ids}, ignore_result=True)
