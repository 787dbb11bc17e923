"""LangSmith sessions and `evaluate()` experiments, as ingest sees them.

`evaluate(target, data="<golden set>", evaluators=[…])` creates a session whose
`reference_dataset_id` is the golden set, traces the target's runs into it (each with a
`reference_example_id`: the case) and posts each evaluator's score through `POST /feedback`
with the session's id. Those scores are eval results: they are kept as EvalScore rows and
never become feedback events (complaints). What they mean for the golden set is decided
above this app, which hears of progress through the `experiment_progressed` signal.
"""

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import EvalScore, Run, TracingSession
from .signals import experiment_progressed

TENANT_NAMESPACE = uuid.UUID("7f1d8a52-3c1e-4f7a-9a55-5a2d0c6b9e11")


def tenant_id(project):
    """The SDK wants a tenant id; one stable UUID per project."""
    return uuid.uuid5(TENANT_NAMESPACE, f"project:{project.pk}")


class SessionNameTaken(Exception):
    pass


def tracing_session_create(*, project, name, description="", reference_dataset_id=None,
                           extra=None, start_time=None, session_id=None):  # fmt: skip
    """A session as `Client.create_project` makes it; a taken name raises SessionNameTaken
    (the SDK then retries with a suffix)."""
    try:
        with transaction.atomic():
            session = TracingSession.objects.create(
                project=project,
                session_id=session_id or uuid.uuid4(),
                name=name,
                description=description or "",
                reference_dataset_id=reference_dataset_id,
                extra=extra or {},
                start_time=start_time or timezone.now(),
            )
    except IntegrityError:
        raise SessionNameTaken(f"A session named '{name}' exists.") from None
    _announce(project, [session.session_id] if session.is_experiment else [])
    return session


def tracing_session_update(*, session, name=None, description=None, extra=None,
                           end_time=None):  # fmt: skip
    """`Client.update_project`: at the end of `evaluate()` the SDK sets the end time and
    the dataset version it ran on (extra.metadata.dataset_version)."""
    if name:
        session.name = name
    if description is not None:
        session.description = description
    if extra is not None:
        session.extra = extra
    if end_time is not None:
        session.end_time = end_time
    session.save()
    _announce(session.project, [session.session_id] if session.is_experiment else [])
    return session


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _experiment_ids(project, session_ids):
    # A session id that is no UUID names no session (and cannot be looked up as one).
    wanted = {u for u in map(_uuid_or_none, filter(None, session_ids)) if u}
    if not wanted:
        return set()
    return {
        str(s)
        for s in TracingSession.objects.filter(
            project=project, session_id__in=wanted, reference_dataset_id__isnull=False
        ).values_list("session_id", flat=True)
    }


def feedback_is_eval_score(raw, experiments, experiment_runs):
    """A score on an experiment's run (or naming an experiment session) is an eval result."""
    return (
        str(raw.get("session_id") or "") in experiments
        or str(raw.get("run_id") or "") in experiment_runs
    )


def langsmith_feedback_split(*, project, raws, experiment_run_ids=()):
    """LangSmith feedback dicts → (user feedback, eval scores). `experiment_run_ids`: runs
    of an experiment not stored yet (posted in the same request)."""
    if not raws:
        return [], []
    dicts = [r for r in raws if isinstance(r, dict)]
    experiments = _experiment_ids(project, [r.get("session_id") for r in dicts])
    run_ids = {str(r["run_id"]) for r in dicts if r.get("run_id")}
    experiment_runs = set(experiment_run_ids) | set(
        Run.objects.filter(project=project, run_id__in=run_ids)
        .exclude(reference_example_id="")
        .values_list("run_id", flat=True)
    )
    user, scores = [], []
    for raw in raws:
        if isinstance(raw, dict) and feedback_is_eval_score(raw, experiments, experiment_runs):
            scores.append(raw)
        else:
            user.append(raw)
    return user, scores


def _number(value):
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def eval_scores_store(*, project, raws):
    """Store evaluator scores (idempotent on the SDK's feedback id); returns how many."""
    rows = [
        EvalScore(
            project=project,
            feedback_id=str(raw.get("id") or uuid.uuid4()),
            session_id=str(raw.get("session_id") or ""),
            run_id=str(raw.get("run_id") or ""),
            key=str(raw.get("key") or "")[:200],
            score=_number(raw.get("score")),
            value=raw.get("value"),
            comment=str(raw.get("comment") or ""),
        )
        for raw in raws
    ]
    EvalScore.objects.bulk_create(rows, ignore_conflicts=True)
    sessions = {r.session_id for r in rows} | set(
        Run.objects.filter(project=project, run_id__in=[r.run_id for r in rows])
        .exclude(session_id="")
        .values_list("session_id", flat=True)
    )
    _announce(project, sessions)
    return len(rows)


def experiment_runs_announce(*, project, runs):
    """Runs of an experiment arrived (call inside the transaction that stored them)."""
    _announce(project, {r.session_id for r in runs if r.reference_example_id and r.session_id})


def _announce(project, session_ids):
    session_ids = sorted({str(s) for s in session_ids if s})
    if session_ids:
        transaction.on_commit(
            lambda: experiment_progressed.send(
                sender=None, project_id=project.pk, session_ids=session_ids
            )
        )
