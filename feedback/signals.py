"""What ingest tells the layers above it, without importing them.

`feedback_committed` is sent, after commit, with the ids of newly stored feedback events
(`event_ids`, at most enqueue.TASK_CHUNK per send). The triage app connects the processing
task to it. A receiver that raises (e.g. the broker is down) loses nothing: the rows are
committed and the periodic sweeper sends them again.
"""

from django.dispatch import Signal

feedback_committed = Signal()

# Sent after commit when an `evaluate()` experiment made progress: its runs or evaluator
# scores arrived, or the SDK updated the session. Arguments: `project_id`, `session_ids`.
# The datasets app connects it to refresh that experiment's golden-set results.
experiment_progressed = Signal()
