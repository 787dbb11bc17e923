"""What datasets tells the layers above it, without importing them.

`case_results_recorded` is sent after commit when cases of a golden set got new results
(`golden_set_id`, `case_ids`): triage connects it to decide whether their clusters are
proven fixed, or regressed.
"""

from django.dispatch import Signal

case_results_recorded = Signal()
