"""Golden-set pages: everyone reads sets, versions, diffs and downloads; leads create sets,
import, publish and move tags. Every action is a plain form post."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.query_params import query_text
from accounts.selectors import membership_get

from . import importing, results, selectors, services
from .forms import GoldenSetForm, ImportForm, PublishForm, TagMoveForm
from .models import Case, GoldenSet

CASES_PER_PAGE = 100
DIFF_SHOWN = 500  # changed cases listed on the diff page; the API returns them all


def lead_required(membership):
    if not membership.can_publish:
        raise PermissionDenied("Only leads can change golden sets.")


def golden_set_get(membership, slug):
    return get_object_or_404(GoldenSet, project=membership.project, slug=slug)


@login_required
def golden_set_list(request, project_slug, form=None, status=200):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_sets = GoldenSet.objects.filter(project=membership.project).order_by("name")
    context = {
        "project": membership.project,
        "membership": membership,
        "golden_sets": golden_sets,
        "create_form": form or GoldenSetForm(),
        "nav": "golden",
    }
    return render(request, "datasets/list.html", context, status=status)


@login_required
@require_POST
def golden_set_create(request, project_slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    lead_required(membership)
    form = GoldenSetForm(request.POST)
    if form.is_valid():
        try:
            golden_set = services.golden_set_create(
                project=membership.project,
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
            )
        except services.InvalidInput as exc:
            for field, errors in exc.fields.items():
                form.add_error(field, errors)
        except services.AlreadyExists as exc:
            form.add_error("slug", str(exc))
        else:
            messages.success(request, f"Created golden set {golden_set.name}.")
            return redirect("datasets:detail", project_slug=project_slug, slug=golden_set.slug)
    return golden_set_list(request, project_slug, form=form, status=400)


def _detail_context(request, membership, golden_set, **forms):
    status = query_text(request.GET, "status", allowed=Case.Status.values) or None
    cases = selectors.cases_working_copy(golden_set=golden_set, status=status)
    page = Paginator(
        cases.select_related("first_published_version", "queue_item"), CASES_PER_PAGE
    ).get_page(request.GET.get("page"))
    versions = list(golden_set.versions.defer("body").select_related("published_by"))
    numbers = [v.number for v in versions]
    latest = results.latest_results(golden_set, [c.case_id for c in page])
    for case in page:
        case.last_result = latest.get(case.case_id)
    return {
        "project": membership.project,
        "membership": membership,
        "golden_set": golden_set,
        "cases": page,
        "status_filter": status,
        "statuses": Case.Status.values,
        "status_counts": selectors.case_status_counts(golden_set=golden_set),
        "versions": versions,
        "results_runs": golden_set.results.select_related("version")
        .defer("version__body")
        .order_by("-pk")[:10],
        "time_to_eval": selectors.time_to_eval_summary(
            cases=golden_set.cases.filter(first_published_at__isnull=False),
            sla_hours=settings.TRIAGE_P0_SLA_HOURS,
        ),
        "sla_hours": settings.TRIAGE_P0_SLA_HOURS,
        "publish_form": forms.get("publish_form") or PublishForm(),
        "tag_form": forms.get("tag_form") or TagMoveForm(versions=numbers),
        "import_form": forms.get("import_form") or ImportForm(),
        "import_errors": forms.get("import_errors"),
        "nav": "golden",
    }


@login_required
def golden_set_detail(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_set = golden_set_get(membership, slug)
    return render(request, "datasets/detail.html", _detail_context(request, membership, golden_set))


def _detail_again(request, membership, golden_set, **forms):
    context = _detail_context(request, membership, golden_set, **forms)
    return render(request, "datasets/detail.html", context, status=400)


@login_required
@require_POST
def golden_set_publish(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership.can_publish:
        raise PermissionDenied("Only leads can publish a version.")
    golden_set = golden_set_get(membership, slug)
    form = PublishForm(request.POST)
    if form.is_valid():
        try:
            version = services.golden_set_version_publish(
                golden_set=golden_set,
                user=request.user,
                notes=form.cleaned_data["notes"],
                tags=form.cleaned_data["tag"],
            )
        except services.PublishError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Published version {version.number} ({version.digest[:19]}…)."
            )
            return redirect("datasets:detail", project_slug=project_slug, slug=slug)
    return _detail_again(request, membership, golden_set, publish_form=form)


@login_required
@require_POST
def golden_set_tag_move(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    lead_required(membership)
    golden_set = golden_set_get(membership, slug)
    numbers = list(golden_set.versions.values_list("number", flat=True))
    form = TagMoveForm(request.POST, versions=numbers)
    if form.is_valid():
        version = golden_set.versions.get(number=form.cleaned_data["version"])
        services.golden_set_version_tag(
            version=version, tag=form.cleaned_data["tag"], user=request.user
        )
        messages.success(
            request, f"Tag {form.cleaned_data['tag']} now points at v{version.number}."
        )
        return redirect("datasets:detail", project_slug=project_slug, slug=slug)
    return _detail_again(request, membership, golden_set, tag_form=form)


@login_required
@require_POST
def golden_set_import(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    lead_required(membership)
    golden_set = golden_set_get(membership, slug)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_again(request, membership, golden_set, import_form=form)
    upload = form.cleaned_data["file"]
    is_csv = upload.name.lower().endswith(".csv") or upload.content_type == "text/csv"
    try:
        text = upload.read().decode("utf-8-sig")
        rows = importing.parse_csv(text) if is_csv else importing.parse_ndjson(text)
    except UnicodeDecodeError:
        form.add_error("file", "The file is not UTF-8 text.")
        return _detail_again(request, membership, golden_set, import_form=form)
    except importing.ImportInvalid as exc:
        form.add_error("file", "Nothing was imported: fix the lines below and try again.")
        return _detail_again(
            request, membership, golden_set, import_form=form, import_errors=exc.fields
        )
    result = services.cases_import(golden_set=golden_set, rows=rows, user=request.user)
    messages.success(
        request, f"Imported {result['created']} new and {result['updated']} updated case(s)."
    )
    return redirect("datasets:detail", project_slug=project_slug, slug=slug)


@login_required
def golden_set_diff(request, project_slug, slug):
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_set = golden_set_get(membership, slug)
    refs = {name: query_text(request.GET, name) for name in ("from", "to")}
    found = {
        name: selectors.version_resolve(golden_set=golden_set, ref=ref)
        for name, ref in refs.items()
    }
    missing = [f"{name} = '{refs[name]}'" for name, v in found.items() if v is None]
    if missing:
        raise Http404(f"No such version: {', '.join(missing)}.")
    diff = selectors.version_diff(golden_set=golden_set, old=found["from"], new=found["to"])
    context = {
        "project": membership.project,
        "membership": membership,
        "golden_set": golden_set,
        "diff": diff,
        "changed": diff["changed"][:DIFF_SHOWN],
        "more_changed": max(len(diff["changed"]) - DIFF_SHOWN, 0),
        "versions": golden_set.versions.defer("body"),
        "nav": "golden",
    }
    return render(request, "datasets/diff.html", context)


@login_required
def version_download(request, project_slug, slug, ref, fmt):
    """The version's cases.jsonl or cases.csv for people (the API serves CI)."""
    membership = membership_get(user=request.user, project_slug=project_slug)
    golden_set = golden_set_get(membership, slug)
    version = selectors.version_resolve(golden_set=golden_set, ref=ref)
    if version is None or fmt not in ("jsonl", "csv"):
        raise Http404(f"No version '{ref}'.")
    if fmt == "csv":
        chunks = selectors.version_csv_chunks(version=version)
        content_type, etag = (
            "text/csv; charset=utf-8",
            selectors.version_csv_digest(version=version),
        )
    else:
        chunks = selectors.version_jsonl_chunks(version=version)
        content_type, etag = "application/x-ndjson; charset=utf-8", version.digest
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["ETag"] = f'"{etag}"'
    response["Content-Disposition"] = (
        f'attachment; filename="{golden_set.slug}-v{version.number}.{fmt}"'
    )
    return response
