"""Reads over ingested data that other apps share."""

from .models import Run


def production_runs(*, project_id):
    """The project's runs minus every trace of an `evaluate()` experiment (a trace with a
    run on a dataset example): eval runs are not production traffic, for auto-flags as for
    metrics."""
    experiment_traces = (
        Run.objects.filter(project_id=project_id)
        .exclude(reference_example_id="")
        .values("trace_id")
    )
    return Run.objects.filter(project_id=project_id).exclude(trace_id__in=experiment_traces)
