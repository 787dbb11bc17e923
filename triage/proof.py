"""Fixed means proven. A cluster is `fixed` once every case promoted from it passes by its
latest CI result, at least one of them in the holdout split (cases the fix was not tuned
on); apps hear `cluster.fixed` with the feedback ids they sent, so they can tell their
users. A later failure of one of its cases, or new complaints within
TRIAGE_FIXED_REOPEN_DAYS of the fix (the eval missed the real failure), makes it
`regressed` and puts it back at the top of its severity in the queue."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone

from datasets.models import Case
from datasets.results import latest_results
from feedback.models import FeedbackEvent
from webhooks.services import public_url, webhook_emit

from .models import Cluster, QueueItem

FEEDBACK_IDS_SENT = 1000  # per cluster.fixed event; `reports` gives the total


def cluster_proof(cluster):
    """(proven, failing case ids, latest commit) from the latest results of its cases."""
    cases = list(Case.objects.filter(cluster=cluster).select_related("golden_set"))
    latest = {}
    for golden_set in {c.golden_set for c in cases}:
        ids = [c.case_id for c in cases if c.golden_set_id == golden_set.pk]
        latest.update(latest_results(golden_set, ids))
    results = [latest.get(c.case_id) for c in cases]
    failing = [c.case_id for c, r in zip(cases, results, strict=True) if r and not r.passed]
    proven = bool(cases) and all(r is not None and r.passed for r in results)
    proven = proven and any(r.split == "holdout" for r in results)
    newest = max((r for r in results if r), key=lambda r: r.created_at, default=None)
    return proven, failing, newest.results_run.commit if newest else ""


def clusters_proof_check(*, golden_set_id, case_ids, now=None):
    """After new results for these cases: mark their clusters fixed or regressed."""
    now = now or timezone.now()
    cluster_ids = set(
        Case.objects.filter(golden_set_id=golden_set_id, case_id__in=case_ids)
        .exclude(cluster=None)
        .values_list("cluster_id", flat=True)
    )
    changed = []
    for cluster in Cluster.objects.filter(pk__in=cluster_ids).select_related("project"):
        proven, failing, commit = cluster_proof(cluster)
        if proven and cluster.status != Cluster.Status.FIXED:
            cluster_fixed_mark(cluster=cluster, commit=commit, now=now)
            changed.append((cluster.pk, "fixed"))
        elif failing and cluster.status == Cluster.Status.FIXED:
            cluster_regress(cluster=cluster, reason=f"Case {failing[0]} fails again at {commit}.")
            changed.append((cluster.pk, "regressed"))
    return changed


def cluster_fixed_mark(*, cluster, commit, now):
    with transaction.atomic():
        Cluster.objects.filter(pk=cluster.pk).update(
            status=Cluster.Status.FIXED, fixed_at=now, fixed_commit=commit[:80]
        )
        cluster.refresh_from_db()
        payload = _fixed_payload(cluster)
        webhook_emit(project=cluster.project, event="cluster.fixed", payload=payload)


def _fixed_payload(cluster):
    """Ids only: the feedback ids the app sent (never text, never user ids)."""
    sent = (
        FeedbackEvent.objects.filter(cluster=cluster, client_id__isnull=False)
        .exclude(source=FeedbackEvent.Source.AUTO)
        .order_by("created_at", "pk")
        .values_list("client_id", flat=True)
    )
    item = QueueItem.objects.filter(cluster=cluster).values_list("pk", flat=True).first()
    path = reverse("triage:item", kwargs={"project_slug": cluster.project.slug, "pk": item})
    return {
        "project": cluster.project.slug,
        "cluster_id": cluster.pk,
        "category": cluster.category,
        "reports": cluster.event_count,
        "feedback_ids": list(sent[:FEEDBACK_IDS_SENT]),
        "case_ids": list(Case.objects.filter(cluster=cluster).values_list("case_id", flat=True)),
        "commit": cluster.fixed_commit,
        "fixed_at": cluster.fixed_at.isoformat(),
        "item_id": item,
        "item_url": public_url(path) if item else None,
    }


def cluster_regress(*, cluster, reason):
    """Back to the queue, above everything else of its severity."""
    p0 = settings.TRIAGE_P0_CATEGORIES
    same_severity = QueueItem.objects.filter(project=cluster.project)
    same_severity = (
        same_severity.filter(cluster__category__in=p0)
        if cluster.is_p0
        else same_severity.exclude(cluster__category__in=p0)
    )
    top = (same_severity.aggregate(top=Max("score"))["top"] or 0.0) + 1.0
    with transaction.atomic():
        Cluster.objects.filter(pk=cluster.pk).update(
            status=Cluster.Status.REGRESSED, queue_reason=reason[:200], score=top
        )
        updated = QueueItem.objects.filter(cluster=cluster).update(
            status=QueueItem.Status.PENDING,
            decision="",
            claimed_by=None,
            lease_expires_at=None,
            score=top,
            scrubbed_event_count=0,  # re-scrubbed with the new evidence
            version=F("version") + 1,
        )
        if not updated:
            QueueItem.objects.create(project=cluster.project, cluster=cluster, score=top)


def fixed_clusters_reopen(*, project, now=None):
    """Complaints that keep coming after a fix (within TRIAGE_FIXED_REOPEN_DAYS) re-open
    it: the eval did not catch the real failure. Returns how many were re-opened."""
    now = now or timezone.now()
    recent = Cluster.objects.filter(
        project=project,
        status=Cluster.Status.FIXED,
        fixed_at__gte=now - timedelta(days=settings.TRIAGE_FIXED_REOPEN_DAYS),
    )
    reopened = 0
    for cluster in recent.select_related("project"):
        after = FeedbackEvent.objects.filter(
            cluster=cluster, created_at__gt=cluster.fixed_at
        ).exclude(source=FeedbackEvent.Source.AUTO)
        count = after.count()
        if count:
            cluster_regress(
                cluster=cluster, reason=f"{count} new complaint(s) after the fix at "
                f"{cluster.fixed_commit or 'an unknown commit'}."
            )  # fmt: skip
            reopened += 1
    return reopened
