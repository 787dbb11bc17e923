"""Incidents: open (from scratch or from a queue item), scope with traces, mitigate, close
only with eval proof, write the postmortem, and check 30 days later that the new cases
caught a repeat. Free text leads type is scrubbed like everything else that is shown."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from datasets.models import CaseResult
from datasets.results import latest_results
from feedback.models import FeedbackEvent
from feedback.selectors import production_runs
from webhooks.services import public_url, webhook_emit

from .models import ClusterFacet, Incident, IncidentEvent
from .pii.placeholders import Placeholders, scrub_texts

TEXT_FIELDS = ("title", "impact", "mitigation")
FIELDS = (
    "title", "severity", "opened_at", "impact", "impact_share", "root_cause_layer",
    "prompt_hash", "model_id", "customer_tier", "index_version", "trace_ids", "mitigation",
    "owners",
)  # fmt: skip
REPEAT_CHECK_DAYS = 30


class EvalNotProven(Exception):
    def __init__(self, cases):
        super().__init__("Linked cases do not pass in holdout yet.")
        self.cases = cases


def _scrub(values):
    """Scrub what a lead typed (one placeholder set per call, no originals kept)."""
    texts = [v or "" for v in values]
    return scrub_texts(texts, Placeholders()) if any(texts) else texts


def _timeline(incident, text, user=None, at=None):
    (text,) = _scrub([text])
    IncidentEvent.objects.create(incident=incident, text=text, author=user, at=at or timezone.now())


def incident_url(incident):
    kwargs = {"project_slug": incident.project.slug, "pk": incident.pk}
    return public_url(reverse("triage:incident", kwargs=kwargs))


def _announce(incident, event):
    webhook_emit(
        project=incident.project,
        event=event,
        payload={
            "project": incident.project.slug,
            "incident_id": incident.pk,
            "severity": incident.severity,
            "status": incident.status,
            "case_ids": list(incident.cases.values_list("case_id", flat=True)),
            "incident_url": incident_url(incident),
        },
    )
    emails = list(
        get_user_model()
        .objects.filter(username__in=incident.owners, memberships__project=incident.project)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if emails:
        transaction.on_commit(
            lambda: send_mail(
                f"[Triage] {incident.severity} {event.split('.')[1]}: {incident.title}",
                f"{incident.title}\n\n{incident_url(incident)}",
                None,
                emails,
                fail_silently=True,
            )
        )


def incident_open(*, project, user, clusters=(), cases=(), **fields):
    """Open an incident; cluster and case rows must belong to `project` (checked by callers)."""
    values = {k: v for k, v in fields.items() if k in FIELDS and v is not None}
    for name, text in zip(TEXT_FIELDS, _scrub([values.get(n) for n in TEXT_FIELDS]), strict=True):
        if name in values:
            values[name] = text
    with transaction.atomic():
        incident = Incident.objects.create(project=project, opened_by=user, **values)
        incident.clusters.add(*clusters)
        incident.cases.add(*cases)
        _timeline(incident, f"Opened ({incident.severity}).", user, at=incident.opened_at)
        _announce(incident, "incident.opened")
        details = {
            "severity": incident.severity,
            "cluster_ids": [c.pk for c in clusters],
            "case_ids": [c.pk for c in cases],
        }
        audit_record(action="incident.open", target=incident, actor=user, details=details)
    return incident


def incident_prefill_from_item(*, item, now=None):
    """What a queue item already knows: its prompt hashes, models, exemplar traces and
    share of the last day's traffic."""
    now = now or timezone.now()
    cluster = item.cluster
    facets = dict(
        ClusterFacet.objects.filter(cluster=cluster).values_list("kind", "value").order_by("value")
    )
    comments = (item.scrubbed or {}).get("comments") or []
    day = now - timedelta(hours=24)
    traffic = (
        production_runs(project_id=item.project_id)
        .filter(parent_run_id="", start_time__gte=day)
        .count()
    )
    complained = FeedbackEvent.objects.filter(cluster=cluster, created_at__gte=day).count()
    first = (comments[0]["text"] if comments else "")[:120]
    return {
        "title": f"{cluster.category or 'Complaints'}: {first}" if first else cluster.category,
        "severity": Incident.Severity.SEV2 if cluster.is_p0 else Incident.Severity.SEV3,
        "prompt_hash": facets.get(ClusterFacet.Kind.PROMPT_HASH, ""),
        "model_id": facets.get(ClusterFacet.Kind.MODEL, ""),
        "trace_ids": [t["trace_id"] for t in (item.scrubbed or {}).get("traces", [])][:10],
        "impact_share": round(min(complained / traffic, 1.0), 4) if traffic else None,
        "impact": f"{cluster.event_count} reports in this cluster.",
    }


def incident_update(*, incident, user, clusters=(), cases=(), note="", status=None, **fields):
    """Change fields, link clusters/cases, add a timeline note, move the status. Closing
    needs every linked case passing in holdout (EvalNotProven names the others); closing
    a closed incident changes nothing."""
    values = {k: v for k, v in fields.items() if k in FIELDS and v is not None}
    for name, text in zip(TEXT_FIELDS, _scrub([values.get(n) for n in TEXT_FIELDS]), strict=True):
        if name in values:
            values[name] = text
    now = timezone.now()
    with transaction.atomic():
        Incident.objects.select_for_update().filter(pk=incident.pk).first()
        incident.refresh_from_db()
        status_before = incident.status
        for name, value in values.items():
            setattr(incident, name, value)
        incident.clusters.add(*clusters)
        incident.cases.add(*cases)
        if note:
            _timeline(incident, note, user)
        if status == Incident.Status.CLOSED and incident.status != Incident.Status.CLOSED:
            not_proven = [c for c, ok in incident_proof(incident) if not ok]
            if not_proven or not incident.cases.exists():
                raise EvalNotProven(not_proven)
            incident.status, incident.closed_at = Incident.Status.CLOSED, now
            _timeline(incident, "Closed: every linked case passes in holdout.", user)
            _announce(incident, "incident.closed")
        elif status == Incident.Status.MITIGATED and incident.status == Incident.Status.OPEN:
            incident.status, incident.mitigated_at = Incident.Status.MITIGATED, now
            _timeline(incident, "Mitigated.", user)
        incident.save()
        action = _incident_update_action(incident, status_before, clusters or cases, note)
        details = {
            "fields": sorted(values),  # names only: the values are free text
            "cluster_ids": [c.pk for c in clusters],
            "case_ids": [c.pk for c in cases],
            "note": bool(note),
            "status": incident.status,
        }
        audit_record(action=action, target=incident, actor=user, details=details)
    return incident


def _incident_update_action(incident, status_before, linked, note):
    """One audit action per update call, named for the weightiest change it made."""
    if incident.status != status_before:
        return f"incident.{'close' if incident.status == Incident.Status.CLOSED else 'mitigate'}"
    if linked:
        return "incident.link"
    return "incident.note" if note else "incident.edit"


def incident_proof(incident):
    """[(case id, passes in holdout)] for every linked case, by its latest result."""
    cases = list(incident.cases.select_related("golden_set").order_by("case_id"))
    latest = {}
    for golden_set in {c.golden_set for c in cases}:
        ids = [c.case_id for c in cases if c.golden_set_id == golden_set.pk]
        latest.update(latest_results(golden_set, ids))
    proof = []
    for case in cases:
        result = latest.get(case.case_id)
        proof.append((case.case_id, bool(result and result.passed and result.split == "holdout")))
    return proof


def incident_scope(incident, now=None):
    """The blast radius: complaints and production traces matching the incident's prompt
    hash / model / tier, per hour, from a day before it opened to its close (≤ 7 days)."""
    now = now or timezone.now()
    start = incident.opened_at - timedelta(hours=24)
    end = min(incident.closed_at or now, start + timedelta(days=7))
    complaints = FeedbackEvent.objects.filter(
        project=incident.project, created_at__gte=start, created_at__lte=end
    )
    traces = production_runs(project_id=incident.project_id).filter(
        parent_run_id="", start_time__gte=start, start_time__lte=end
    )
    if incident.prompt_hash:
        complaints = complaints.filter(prompt_hash=incident.prompt_hash)
        traces = traces.filter(metadata__prompt_hash=incident.prompt_hash)
    if incident.model_id:
        complaints = complaints.filter(model_id=incident.model_id)
        model = incident.model_id
        traces = traces.filter(Q(model=model) | Q(metadata__ls_model_name=model))
    if incident.customer_tier:
        complaints = complaints.filter(customer_tier=incident.customer_tier)
        traces = traces.filter(metadata__customer_tier=incident.customer_tier)
    hours = {}
    for field, qs, time_field in (("complaints", complaints, "created_at"),
                                  ("traces", traces, "start_time")):  # fmt: skip
        for hour, n in (
            qs.annotate(hour=TruncHour(time_field)).values_list("hour").annotate(n=Count("pk"))
            .values_list("hour", "n").order_by()
        ):  # fmt: skip
            hours.setdefault(hour, {"hour": hour, "complaints": 0, "traces": 0})[field] = n
    rows = [hours[h] for h in sorted(hours)]
    return {
        "start": start,
        "end": end,
        "complaints": sum(r["complaints"] for r in rows),
        "traces": sum(r["traces"] for r in rows),
        "hours": rows,
        "exemplars": list(traces.order_by("-start_time").values_list("trace_id", flat=True)[:10]),
    }


def incident_repeat_check(incident, now=None):
    """30 days after closing: did the new cases catch a repeat (a failing result since the
    close) or did complaints come back to its clusters? None before it is due."""
    now = now or timezone.now()
    if incident.status != Incident.Status.CLOSED or not incident.closed_at:
        return None
    due_at = incident.closed_at + timedelta(days=REPEAT_CHECK_DAYS)
    failing = sorted(
        set(
            CaseResult.objects.filter(
                results_run__golden_set__project=incident.project,
                case_id__in=incident.cases.values_list("case_id", flat=True),
                passed=False,
                created_at__gt=incident.closed_at,
            ).values_list("case_id", flat=True)
        )
    )
    complaints = FeedbackEvent.objects.filter(
        cluster__in=incident.clusters.all(), created_at__gt=incident.closed_at
    ).count()
    return {
        "due": now >= due_at,
        "due_at": due_at,
        "caught_repeat": bool(failing),
        "failing_cases": failing,
        "complaints_after_close": complaints,
        "confirmed": incident.repeat_check_confirmed_at is not None,
    }


def incident_repeat_confirm(*, incident, user, note=""):
    (note,) = _scrub([note])
    with transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(
            repeat_check_confirmed_at=timezone.now(), repeat_check_confirmed_by=user,
            repeat_check_note=note,
        )  # fmt: skip
        incident.refresh_from_db()
        _timeline(incident, f"30-day check confirmed. {note}".strip(), user)
        audit_record(action="incident.repeat_confirm", target=incident, actor=user)
    return incident


def open_incidents_for_cluster(cluster):
    return Incident.objects.filter(clusters=cluster).exclude(status=Incident.Status.CLOSED)


def postmortem_context(incident, now=None):
    """What the postmortem (page and postmortem.md) says, from the incident's own data."""
    now = now or timezone.now()
    proof = incident_proof(incident)
    published = (
        incident.cases.exclude(first_published_at=None).order_by("first_published_at").first()
    )
    first_pass = (
        CaseResult.objects.filter(
            results_run__golden_set__project=incident.project,
            case_id__in=incident.cases.values_list("case_id", flat=True),
            passed=True,
            created_at__gte=incident.opened_at,
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )

    def hours(at):
        return round((at - incident.opened_at).total_seconds() / 3600, 1) if at else None

    return {
        "incident": incident,
        "url": incident_url(incident),
        "timeline": list(incident.timeline.all()),
        "cases": proof,
        "clusters": list(incident.clusters.order_by("pk")),
        "hours_to_case_published": hours(published and published.first_published_at),
        "hours_to_first_pass": hours(first_pass),
        "repeat_check": incident_repeat_check(incident, now),
        "generated_at": now,
    }
