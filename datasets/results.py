"""CI results: which cases of a published version pass, posted by CI or built from an
`evaluate()` experiment. A case is `never_run`, `passing` or `failing` by its latest result."""

import uuid

from django.db import transaction
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from feedback.models import EvalScore, Run
from webhooks.services import public_url, webhook_emit

from . import selectors
from .models import CaseResult, GoldenSet, GoldenSetVersion, ResultsRun
from .signals import case_results_recorded

ID_NAMESPACE = uuid.UUID("3b0f7c1e-5d7a-4a84-8f0e-2c9e1a6d4b70")


def golden_set_uuid(golden_set):
    """The id the LangSmith SDK knows a golden set by (stable, derived, never stored)."""
    return uuid.uuid5(ID_NAMESPACE, f"golden-set:{golden_set.pk}")


def case_uuid(golden_set, case_id):
    """The example id of a case: the same in every version, so results follow the case."""
    return uuid.uuid5(ID_NAMESPACE, f"case:{golden_set.pk}:{case_id}")


class ResultsError(ValueError):
    def __init__(self, fields):
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in fields.items()))
        self.fields = fields


def _latest_outcomes(golden_set, case_ids, before=None):
    """case id → passed, by each case's latest result (before a given results run)."""
    results = CaseResult.objects.filter(results_run__golden_set=golden_set, case_id__in=case_ids)
    if before is not None:
        results = results.exclude(results_run=before)
    latest = {}
    for case_id, passed in results.order_by("created_at", "pk").values_list("case_id", "passed"):
        latest[case_id] = passed
    return latest


def results_run_record(*, version, results, commit="", name=""):
    """Store one CI run's results on `version`. Every case id must be in that version (else
    ResultsError naming `results[<i>].case_id`, nothing stored). Returns the run and the
    cases that newly pass and that regressed (passed last time, fail now)."""
    splits = {c["case_id"]: c["split"] for c in selectors.version_cases(version=version)}
    errors = {
        f"results[{i}].case_id": [f"'{r['case_id']}' is not a case of version {version.number}."]
        for i, r in enumerate(results)
        if r["case_id"] not in splits
    }
    seen = set()
    for i, r in enumerate(results):
        if r["case_id"] in seen:
            errors[f"results[{i}].case_id"] = [f"'{r['case_id']}' is listed twice."]
        seen.add(r["case_id"])
    if errors:
        raise ResultsError(errors)
    golden_set = version.golden_set
    with transaction.atomic():
        before = _latest_outcomes(golden_set, list(seen))
        run = ResultsRun.objects.create(
            golden_set=golden_set,
            version=version,
            commit=commit,
            name=name,
            passed=sum(1 for r in results if r["passed"]),
            failed=sum(1 for r in results if not r["passed"]),
        )
        rows = CaseResult.objects.bulk_create(
            CaseResult(
                results_run=run,
                case_id=r["case_id"],
                split=splits[r["case_id"]],
                passed=r["passed"],
                score=r.get("score"),
                output=r.get("output"),
                details=r.get("details"),
            )
            for r in results
        )
        _results_announce(run, rows, before)
    newly_passing = [r["case_id"] for r in results if r["passed"] and not before.get(r["case_id"])]
    regressions = [r["case_id"] for r in results if not r["passed"] and before.get(r["case_id"])]
    return run, {"newly_passing": newly_passing, "regressions": regressions}


def _results_announce(run, rows, before):
    """Tell apps about first passes and regressions (webhooks, in this transaction) and the
    layers above that these cases have new results (after commit)."""
    if not rows:
        return
    golden_set = run.golden_set
    passed_before = set(
        CaseResult.objects.filter(
            results_run__golden_set=golden_set, case_id__in=[r.case_id for r in rows], passed=True
        )
        .exclude(results_run=run)
        .values_list("case_id", flat=True)
    )
    for row in rows:
        if row.passed and row.case_id not in passed_before:
            event = "case.passing"
        elif not row.passed and before.get(row.case_id):
            event = "case.regressed"
        else:
            continue
        webhook_emit(project=golden_set.project, event=event, payload=_case_payload(run, row))
    case_ids = sorted({r.case_id for r in rows})
    transaction.on_commit(
        lambda: case_results_recorded.send(
            sender=None, golden_set_id=golden_set.pk, case_ids=case_ids
        )
    )


def _case_payload(run, row):
    golden_set = run.golden_set
    return {
        "project": golden_set.project.slug,
        "golden_set": golden_set.slug,
        "case_id": row.case_id,
        "split": row.split,
        "version": run.version.number,
        "commit": run.commit,
        "results_run": run.pk,
        "results_url": public_url(
            reverse(
                "api:golden-set-results",
                kwargs={"slug": golden_set.slug, "ref": str(run.version.number)},
            )
        ),
    }


def case_result_view(row):
    """One result as the API shows it (the row comes with its results run)."""
    return {
        "passed": row.passed,
        "score": row.score,
        "split": row.split,
        "commit": row.results_run.commit,
        "results_run": row.results_run_id,
        "created_at": row.created_at.isoformat(),
    }


def latest_results(golden_set, case_ids):
    """case id → its latest CaseResult (with its results run), for cases that have one."""
    latest = {}
    for row in (
        CaseResult.objects.filter(results_run__golden_set=golden_set, case_id__in=case_ids)
        .select_related("results_run")
        .order_by("created_at", "pk")
    ):
        latest[row.case_id] = row
    return latest


def _experiment_version(golden_set, metadata, started):
    """The version an experiment ran on: the SDK reports it as `dataset_version` (the
    examples' modified_at, i.e. the version's publish time); before it does, the latest
    version published when the experiment started."""
    as_of = parse_datetime(str(metadata.get("dataset_version") or "")) or started
    versions = GoldenSetVersion.objects.filter(golden_set=golden_set).defer("body")
    return versions.filter(published_at__lte=as_of).order_by("-number").first()


def _passed(scores, key):
    """Pass/fail from a run's evaluator scores: the deciding key's, else all of them."""
    if key:
        scores = [s for s in scores if s[0] == key]
    verdicts = [v for _, v, _ in scores if v is not None]
    if not verdicts:
        return None, None
    numbers = [n for _, _, n in scores if n is not None]
    return all(verdicts), (min(numbers) if numbers else None)


def experiment_results_refresh(*, project, session):
    """(Re)build the results run of one `evaluate()` experiment from what has arrived:
    its runs (one per case, via reference_example_id) and their evaluator scores.
    Idempotent; runs whose scores have not arrived yet are left out until they do."""
    golden_set = next(
        (
            g
            for g in GoldenSet.objects.filter(project=project)
            if golden_set_uuid(g) == session.reference_dataset_id
        ),
        None,
    )
    if golden_set is None:
        return None
    version = _experiment_version(golden_set, session.metadata, session.start_time)
    if version is None:
        return None
    version = GoldenSetVersion.objects.get(pk=version.pk)
    cases = {
        str(case_uuid(golden_set, c["case_id"])): c
        for c in selectors.version_cases(version=version)
    }
    runs = dict(
        Run.objects.filter(project=project, session_id=str(session.session_id))
        .exclude(reference_example_id="")
        .values_list("run_id", "reference_example_id")
    )
    scores = {}
    for run_id, key, score, value in EvalScore.objects.filter(
        project=project, run_id__in=list(runs)
    ).values_list("run_id", "key", "score", "value"):
        verdict = score >= 0.5 if score is not None else value if isinstance(value, bool) else None
        scores.setdefault(run_id, []).append((key, verdict, score))
    outcomes = {}
    for run_id, example_id in runs.items():
        case = cases.get(example_id)
        passed, score = _passed(scores.get(run_id, []), golden_set.results_key)
        if case is not None and passed is not None:
            outcomes[case["case_id"]] = (case["split"], passed, score, run_id)
    with transaction.atomic():
        before = _latest_outcomes(
            golden_set,
            list(outcomes),
            before=ResultsRun.objects.filter(
                golden_set=golden_set, experiment_session_id=str(session.session_id)
            ).first(),
        )
        run, _ = ResultsRun.objects.update_or_create(
            golden_set=golden_set,
            experiment_session_id=str(session.session_id),
            defaults={
                "version": version,
                "name": session.name,
                "passed": sum(1 for o in outcomes.values() if o[1]),
                "failed": sum(1 for o in outcomes.values() if not o[1]),
            },
        )
        run.cases.exclude(case_id__in=list(outcomes)).delete()
        known = {r.case_id: r.passed for r in run.cases.all()}
        changed = []
        for case_id, (split, passed, score, run_id) in outcomes.items():
            row, _ = CaseResult.objects.update_or_create(
                results_run=run,
                case_id=case_id,
                defaults={
                    "split": split,
                    "passed": passed,
                    "score": score,
                    "details": {"langsmith_run_id": run_id},
                },
            )
            if known.get(case_id) != passed:  # new, or flipped: announce once
                changed.append(row)
        _results_announce(run, changed, before)
    return run


def case_status(golden_set, case_ids):
    """case id → never_run | passing | failing, by its latest result."""
    latest = _latest_outcomes(golden_set, case_ids)
    return {
        c: "never_run" if c not in latest else "passing" if latest[c] else "failing"
        for c in case_ids
    }


def case_results(golden_set, case_id, limit=50):
    """A case's result history, newest first."""
    return [
        {
            "results_run": r.results_run_id,
            "version": r.results_run.version.number,
            "commit": r.results_run.commit,
            "name": r.results_run.name,
            "passed": r.passed,
            "score": r.score,
            "created_at": r.created_at,
        }
        for r in CaseResult.objects.filter(results_run__golden_set=golden_set, case_id=case_id)
        .select_related("results_run__version")
        .defer("results_run__version__body")
        .order_by("-created_at", "-pk")[:limit]
    ]
