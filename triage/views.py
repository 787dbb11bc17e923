"""Reviewer pages. Every action is a plain form post; htmx (when present) swaps partials."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.query_params import parse_int, query_int, query_text
from accounts.selectors import (
    membership_can_reveal_pii,
    membership_get,
    project_members,
    user_projects,
)
from datasets import services as dataset_services
from datasets.models import GoldenSet

from . import job, scrubbing, selectors, services
from .forms import LabelForm, PromoteForm
from .models import ClusterFacet, QueueItem, TriageRun
from .tasks import run_job
from .time_to_eval import time_to_eval_report

logger = logging.getLogger(__name__)


@login_required
def home(request):
    membership = (
        request.user.memberships.select_related("project").order_by("project__slug").first()
    )
    if membership is None:
        return render(request, "triage/no_project.html")
    return redirect("triage:queue", project_slug=membership.project.slug)


@login_required
def queue(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    project = membership.project
    filters = selectors.QueueFilters.from_query(request.GET)
    after = query_text(request.GET, "after", max_length=200)
    items, next_cursor = selectors.queue_items(
        project=project, filters=filters, user=request.user, after=after
    )
    context = {
        "project": project,
        "projects": user_projects(user=request.user),
        "membership": membership,
        "items": items,
        "next_url": f"?{filters.as_query(after=next_cursor)}" if next_cursor else "",
        "progress": selectors.reviewer_progress(project=project),
        "mentions": selectors.mentions_for(project=project, user=request.user),
        "sort_urls": {s: f"?{filters.sorted_by(s).as_query()}" for s in selectors.SORTS},
        "counts": selectors.queue_status_counts(
            project=project, filters=filters, user=request.user
        ),
        "model_values": selectors.queue_facet_values(project=project, kind=ClusterFacet.Kind.MODEL),
        "prompt_values": selectors.queue_facet_values(
            project=project, kind=ClusterFacet.Kind.PROMPT_HASH
        ),
        "filters": filters,
        "categories": settings.TRIAGE_CATEGORIES,
        "tiers": list(settings.TRIAGE_TIER_WEIGHTS),
        "members": project_members(project=project),
        "nav": "queue",
    }
    if request.htmx:
        # "Load more" swaps in the next rows; a filter change swaps the whole result block.
        partial = "queue-rows" if after else "queue-results"
        return render(request, f"triage/queue.html#{partial}", context)
    return render(request, "triage/queue.html", context)


@login_required
@require_POST
def claim_next(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    return _open_next(request, membership)


def _open_next(request, membership):
    """Claim the next item and open it (claim next, and save & next after a label)."""
    project_slug = membership.project.slug
    item = services.queue_item_claim_next(project=membership.project, user=request.user)
    if item is None:
        messages.info(request, "The queue is empty. Nice work.")
        return redirect("triage:queue", project_slug=project_slug)
    return redirect("triage:item", project_slug=project_slug, pk=item.pk)


BULK_ACTIONS = {"assign", "known_issue", "skip"}


@login_required
@require_POST
def queue_bulk(request, project_slug):
    """Leads act on the ticked rows: assign to a member, mark known issue, or skip."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads act on several items at once.")
    project = membership.project
    ids = {pk for pk in map(parse_int, request.POST.getlist("items")) if pk is not None}
    action = request.POST.get("action", "")
    back = request.POST.get("next", "")
    back = back if back.startswith("?") else ""
    if not ids or action not in BULK_ACTIONS:
        messages.error(request, "Tick at least one item and choose an action.")
        return redirect(reverse("triage:queue", args=[project_slug]) + back)
    if action == "assign":
        member = next(
            (m.user for m in project_members(project=project)
             if str(m.user_id) == request.POST.get("member")),
            None,
        )  # fmt: skip
        if member is None:
            messages.error(request, "Choose a project member to assign the items to.")
            return redirect(reverse("triage:queue", args=[project_slug]) + back)
        done = services.queue_items_assign(project=project, item_ids=ids, member=member)
        verb = f"assigned to {member.username}"
    elif action == "known_issue":
        done = services.queue_items_mark_known_issue(
            project=project, item_ids=ids, user=request.user
        )
        verb = "marked known issue"
    else:
        done = services.queue_items_skip(project=project, item_ids=ids)
        verb = "skipped"
    text = f"{done} item{'' if done == 1 else 's'} {verb}."
    if done < len(ids):
        text += f" {len(ids) - done} left alone: labelled already or held by a reviewer."
    messages.success(request, text)
    return redirect(reverse("triage:queue", args=[project_slug]) + back)


@login_required
@require_POST
def run_now(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads can run the triage job.")
    # The run row exists before the task starts, so the page can show it as queued.
    run = job.triage_run_queue(project=membership.project, user=request.user)
    try:
        # ignore_result: no result-backend wait, so a dead broker fails at once, not in 20 s.
        run_job.apply_async(
            kwargs={"project_id": membership.project.pk, "triage_run_id": run.pk},
            ignore_result=True,
        )
    except Exception:
        logger.warning("could not enqueue triage run %s", run.pk, exc_info=True)
        job.triage_run_fail(triage_run=run, reason="The task queue is unreachable.")
        messages.error(request, "The task queue is unreachable; the job did not start.")
        return redirect("triage:queue", project_slug=project_slug)
    messages.success(request, "Triage job started.")
    return redirect("triage:queue", project_slug=project_slug)


def _item(request, project_slug, pk):
    membership = membership_get(user=request.user, project_slug=project_slug)
    item = get_object_or_404(
        QueueItem.objects.select_related("cluster", "claimed_by", "labelled_by"),
        pk=pk,
        project=membership.project,
    )
    return membership, item


def _label_form(membership, item, data=None):
    rubric = selectors.rubric_fields(project=membership.project)
    scores = {
        f"score_{f.key}": ("yes" if v else "no") if f.kind == "boolean" else v
        for f in rubric
        if (v := item.scores.get(f.key)) is not None
    }
    return LabelForm(
        data,
        failure_modes=selectors.failure_mode_choices(project=membership.project),
        can_add_modes=membership.can_publish,
        rubric=rubric,
        initial={
            **scores,
            "version": item.version,
            "decision": item.decision,
            "failure_modes": item.failure_modes
            or ([item.failure_mode] if item.failure_mode else []),
            "criteria": item.criteria,
            "expected_output": item.expected_output,
            "notes": item.notes,
        },
    )


def _item_context(request, membership, item, label_form=None, promote_form=None):
    golden_sets = GoldenSet.objects.filter(project=membership.project).order_by("name")
    comments = item.scrubbed.get("comments", [])
    traces = [
        {"trace_id": t["trace_id"], **selectors.trace_replay(t["runs"])}
        for t in item.scrubbed.get("traces", [])
    ]
    prev_pk, next_pk = selectors.queue_neighbours(item=item)
    mine = item.lease_live and item.claimed_by_id == request.user.pk
    return {
        "project": membership.project,
        "projects": user_projects(user=request.user),
        "membership": membership,
        "item": item,
        "cluster": item.cluster,
        "comments": comments,
        "breakdown": selectors.cluster_breakdown(comments),
        "traces": traces,
        "sla_hours_left": selectors.sla_hours_left(item.cluster),
        "sla_hours": settings.TRIAGE_P0_SLA_HOURS,
        "mine": mine,
        "can_reveal_pii": membership_can_reveal_pii(membership=membership),
        # Labelling needs the lease; a labelled item may be corrected (version-guarded).
        "can_label": mine or item.status == QueueItem.Status.LABELLED,
        "held_by_other": item.lease_live and not mine,
        "prev_pk": prev_pk,
        "next_pk": next_pk,
        "heartbeat_seconds": max(settings.TRIAGE_LEASE_SECONDS // 3, 5),
        "label_form": label_form or _label_form(membership, item),
        "promote_form": promote_form
        or PromoteForm(
            golden_sets=golden_sets,
            initial={
                "golden_set": golden_sets[0].slug if golden_sets else "",
                "input": services.queue_item_default_input(item),
                "expected": {"output": item.expected_output} if item.expected_output else None,
                "criteria": item.criteria,
            },
        ),
        "cases": item.cases.select_related("golden_set"),
        "discussion": selectors.item_discussion(item=item),
        **_second_review_context(request, item),
        "nav": "queue",
    }


def _no_store(response):
    # The lease state changes under the page: Back must ask the server again, not show a
    # stored "You hold this item" (keys.js also reloads a page restored from bfcache).
    response["Cache-Control"] = "no-store"
    return response


@login_required
def item_detail(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    return _no_store(render(request, "triage/item.html", _item_context(request, membership, item)))


@login_required
@require_POST
def item_claim(request, project_slug, pk):
    _, item = _item(request, project_slug, pk)
    if not services.queue_item_claim(item=item, user=request.user):
        messages.error(request, "Not claimed: someone else is reviewing this item.")
    return redirect("triage:item", project_slug=project_slug, pk=pk)


@login_required
@require_POST
def item_take_over(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    if not membership.can_publish:
        raise PermissionDenied("Only leads can take over an item.")
    holder = item.claimed_by.username if item.lease_live and item.claimed_by else None
    if services.queue_item_take_over(item=item, user=request.user):
        messages.success(
            request, f"You took over this item from {holder}." if holder else "You hold this item."
        )
    else:
        messages.error(request, "Nothing to take over: the item is already labelled.")
    return redirect("triage:item", project_slug=project_slug, pk=pk)


@login_required
@require_POST
def item_heartbeat(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    alive = services.queue_item_heartbeat(item=item, user=request.user)
    item.refresh_from_db()
    context = {
        "item": item,
        "lease_alive": alive,
        "mine": alive,
        "project": membership.project,
        "heartbeat_seconds": max(settings.TRIAGE_LEASE_SECONDS // 3, 5),
    }
    return render(request, "triage/item.html#lease", context)


@login_required
@require_POST
def item_skip(request, project_slug, pk):
    _, item = _item(request, project_slug, pk)
    if services.queue_item_skip(item=item, user=request.user):
        messages.info(request, "Skipped; it waits behind the pending items.")
    return redirect("triage:queue", project_slug=project_slug)


@login_required
@require_POST
def item_label(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    form = _label_form(membership, item, data=request.POST)
    status, error, conflict = 400, None, False
    if form.is_valid():
        data = form.cleaned_data
        modes = list(data["failure_modes"])
        try:
            if data.get("new_failure_mode"):
                mode = services.failure_mode_create(
                    project=membership.project, label=data["new_failure_mode"]
                )
                modes.append(mode.slug)
            services.queue_item_label(
                item=item,
                user=request.user,
                version=data["version"],
                decision=data["decision"],
                failure_modes=modes,
                criteria=data["criteria"],
                expected_output=data["expected_output"],
                notes=data["notes"],
                scores=form.rubric_scores(),
            )
        except services.StaleEdit as exc:
            status, error, conflict = 409, str(exc), True
        except services.NotClaimant as exc:
            status, error, conflict = 409, str(exc), False
        except ValueError as exc:
            form.add_error("new_failure_mode", str(exc))
        else:
            messages.success(request, "Label saved.")
            if request.POST.get("next"):
                return _open_next(request, membership)
            return redirect("triage:item", project_slug=project_slug, pk=pk)
    if error:
        messages.error(request, error)
        item.refresh_from_db()
        # Keep the reviewer's edit, but on the current version: re-saving is now a choice
        # made after seeing the other label, never a silent overwrite.
        data = request.POST.copy()
        data["version"] = item.version
        form = _label_form(membership, item, data=data)
        form.is_valid()
    context = _item_context(request, membership, item, label_form=form)
    context["label_conflict"] = bool(error) and conflict
    return render(request, "triage/item.html", context, status=status)


def _second_review_context(request, item):
    wanted = (
        getattr(settings, "TRIAGE_P0_SECOND_REVIEW", True)
        and item.cluster.is_p0
        and item.status == QueueItem.Status.LABELLED
    )
    if not wanted:
        return {"second_review_wanted": False}
    reviews = list(
        item.second_reviews.filter(first_version=item.version).select_related("reviewer")
    )
    return {
        "second_review_wanted": True,
        "second_reviews": reviews,
        "can_second_review": item.labelled_by_id != request.user.pk
        and all(r.reviewer_id != request.user.pk for r in reviews),
        "decisions": QueueItem.Decision.choices,
    }


@login_required
@require_POST
def item_second_review(request, project_slug, pk):
    _, item = _item(request, project_slug, pk)
    try:
        review = services.second_review_record(
            item=item,
            user=request.user,
            decision=request.POST.get("decision", ""),
            note=request.POST.get("note", ""),
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Second review saved: you agree."
            if review.agrees
            else "Second review saved: you differ from the first label.",
        )
    return redirect(reverse("triage:item", args=[project_slug, pk]) + "#second-review")


@login_required
@require_POST
def item_comment(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    parent = None
    if (parent_id := parse_int(request.POST.get("parent"))) is not None:
        parent = item.discussion.filter(pk=parent_id).first()
    try:
        services.item_comment_create(
            item=item,
            author=request.user,
            body=request.POST.get("body", ""),
            members=[m.user for m in project_members(project=membership.project)],
            parent=parent,
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("triage:item", args=[project_slug, pk]) + "#discussion")


@login_required
@require_POST
def item_promote(request, project_slug, pk):
    membership, item = _item(request, project_slug, pk)
    golden_sets = GoldenSet.objects.filter(project=membership.project)
    form = PromoteForm(request.POST, golden_sets=golden_sets)
    if not form.is_valid():
        return render(
            request,
            "triage/item.html",
            _item_context(request, membership, item, promote_form=form),
            status=400,
        )
    data = form.cleaned_data
    golden_set = (
        golden_sets.get(slug=data["golden_set"])
        if data["golden_set"]
        else dataset_services.golden_set_get_or_create(
            project=membership.project, name=data["new_golden_set"]
        )
    )
    try:
        case = services.queue_item_promote(
            item=item,
            golden_set=golden_set,
            user=request.user,
            input=data["input"],
            expected=data["expected"],
            criteria=data["criteria"],
        )
    except services.PromoteError as exc:
        messages.error(request, str(exc))
        return render(
            request,
            "triage/item.html",
            _item_context(request, membership, item, promote_form=form),
            status=409,
        )
    messages.success(
        request, f"Promoted as {case.case_id} (draft until the next published version)."
    )
    return redirect(reverse("datasets:detail", args=[project_slug, golden_set.slug]))


@login_required
@require_POST
def pii_reveal(request, project_slug, pk, token):
    """Swap one placeholder for its original (htmx), or show it on a page (plain POST).

    Only leads/admins of this project with `triage.reveal_pii`; every reveal is audited
    (see scrubbing.pii_reveal).
    """
    from django.http import Http404

    membership = membership_get(user=request.user, project_slug=project_slug)
    item = get_object_or_404(QueueItem, pk=pk, project=membership.project)
    placeholder = f"<{token}>"
    value = scrubbing.pii_reveal(item=item, placeholder=placeholder, membership=membership)
    if value is None:
        raise Http404("No such placeholder on this item.")
    context = {"project": membership.project, "item": item, "placeholder": placeholder}
    if value is scrubbing.ORIGINAL_PURGED:
        context["purged_after_days"] = settings.TRIAGE_RAW_RETENTION_DAYS
    else:
        context["value"] = value
    template = "triage/pii_reveal.html#revealed" if request.htmx else "triage/pii_reveal.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"  # the original must not sit in any cache
    return response


@login_required
def triage_run_status(request, project_slug):
    """The latest triage run's progress; the queue page polls it while a run is going."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    run = (
        TriageRun.objects.filter(project=membership.project, kind="triage").order_by("-pk").first()
    )
    context = {"project": membership.project, "membership": membership, "run": run}
    return render(request, "triage/queue.html#run-progress", context)


TIME_TO_EVAL_WINDOWS = (7, 30, 90, 365)


@login_required
def time_to_eval(request, project_slug):
    """The headline metric: hours from first complaint to published case, and where they go."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    days = query_int(request.GET, "days")
    days = days if days in TIME_TO_EVAL_WINDOWS else 30
    now = timezone.now()
    report = time_to_eval_report(
        project=membership.project,
        since=now - timedelta(days=days),
        now=now,
        sla_hours=settings.TRIAGE_P0_SLA_HOURS,
    )
    titles = selectors.queue_item_titles(item_ids=[c["item_id"] for c in report["open_p0"]])
    for complaint in report["open_p0"]:
        complaint["title"] = titles.get(complaint["item_id"], "")
    slowest = max((s["median_hours"] or 0 for s in report["stages"]), default=0)
    for stage in report["stages"]:  # bar widths, relative to the slowest stage
        stage["share"] = round(100 * (stage["median_hours"] or 0) / slowest) if slowest else 0
    return render(
        request,
        "triage/time_to_eval.html",
        {
            "project": membership.project,
            "membership": membership,
            "report": report,
            "days": days,
            "windows": TIME_TO_EVAL_WINDOWS,
            "nav": "time_to_eval",
        },
    )
