"""What ingest tells the layers above it, without importing them.

`feedback_committed` is sent, after commit, with the ids of the projects that got new
feedback events (`project_ids`): processing takes every pending event of a project, so the
event ids themselves would only make the message bigger. The triage app connects the
processing task to it. A receiver that raises (e.g. the broker is down) loses nothing: the
rows are committed and the periodic sweeper sends them again.
"""

from django.dispatch import Signal

feedback_committed = Signal()

# Sent after commit when an `evaluate()` experiment made progress: its runs or evaluator
# scores arrived, or the SDK updated the session. Arguments: `project_id`, `session_ids`.
# The datasets app connects it to refresh that experiment's golden-set results.
experiment_progressed = Signal()
