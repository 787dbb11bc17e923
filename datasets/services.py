"""Writes for golden sets: promote a reviewed cluster to a case, publish immutable versions."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.text import slugify

from webhooks.services import public_url, webhook_emit

from . import jsonl, selectors
from .models import Case, GoldenSet, GoldenSetVersion


class PublishError(Exception):
    pass


def golden_set_get_or_create(*, project, name, slug=""):
    slug = slug or slugify(name)[:50]
    if not slug:
        raise ValueError("A golden set needs a name.")
    golden_set, _ = GoldenSet.objects.get_or_create(
        project=project, slug=slug, defaults={"name": name or slug}
    )
    return golden_set


def case_create(
    *,
    golden_set,
    input,
    expected,
    criteria,
    tags,
    failure_mode,
    source,
    user,
    cluster=None,
    queue_item=None,
    trace_ids=(),
    first_feedback_at=None,
):
    """Add a case to the set's working copy with the next number; its split follows from
    its id (deterministic). Text must already be scrubbed."""
    with transaction.atomic():
        # Lock the set so concurrent promotions get consecutive numbers.
        GoldenSet.objects.select_for_update().filter(pk=golden_set.pk).first()
        number = (
            golden_set.cases.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        case_id = f"{golden_set.slug}-{number:03d}"
        return Case.objects.create(
            golden_set=golden_set,
            number=number,
            case_id=case_id,
            input=input,
            expected=expected,
            criteria=criteria,
            tags=tags,
            failure_mode=failure_mode,
            split=jsonl.split_for(case_id, settings.TRIAGE_HOLDOUT_PERCENT),
            source=source,
            cluster=cluster,
            queue_item=queue_item,
            trace_ids=list(trace_ids),
            created_by=user,
            first_feedback_at=first_feedback_at,
        )


def golden_set_version_publish(*, golden_set, user, notes="", tags=()):
    """Freeze the set's current cases into a new numbered version with a sha256 digest."""
    with transaction.atomic():
        GoldenSet.objects.select_for_update().filter(pk=golden_set.pk).first()
        cases = list(golden_set.cases.order_by("number"))
        if not cases:
            raise PublishError("This golden set has no cases yet; promote one first.")
        body = jsonl.jsonl_body(selectors.case_as_json(c) for c in cases)
        digest = jsonl.digest(body)
        latest = golden_set.versions.order_by("-number").first()
        if latest and latest.digest == digest:
            raise PublishError(f"Nothing changed since version {latest.number}.")
        version = GoldenSetVersion.objects.create(
            golden_set=golden_set,
            number=(latest.number if latest else 0) + 1,
            digest=digest,
            case_count=len(cases),
            body=body,
            notes=notes,
            published_by=user,
        )
        for tag in tags:
            golden_set_version_tag(version=version, tag=tag)
        webhook_emit(
            project=golden_set.project,
            event="golden_set.version_published",
            payload=version_published_payload(version),
        )
        now = version.published_at
        Case.objects.filter(pk__in=[c.pk for c in cases], first_published_at__isnull=True).update(
            first_published_at=now, first_published_version=version
        )
    return version


def golden_set_version_tag(*, version, tag):
    """Point `tag` (e.g. `prod`) at this version; a tag names one version per set."""
    tag = slugify(tag)
    if not tag or tag.isdigit() or tag == "latest":
        raise PublishError(f"'{tag}' cannot be a tag: it would shadow a version ref.")
    with transaction.atomic():
        for other in version.golden_set.versions.exclude(pk=version.pk).select_for_update():
            if tag in other.tags:
                other.tags = [t for t in other.tags if t != tag]
                other.save(update_fields=["tags"])
        if tag not in version.tags:
            version.tags = [*version.tags, tag]
            version.save(update_fields=["tags"])
    return version


def version_published_payload(version):
    golden_set = version.golden_set
    path = reverse(
        "api:golden-set-cases", kwargs={"slug": golden_set.slug, "ref": str(version.number)}
    )
    return {
        "project": golden_set.project.slug,
        "golden_set": golden_set.slug,
        "version": version.number,
        "digest": version.digest,
        "tags": version.tags,
        "case_count": version.case_count,
        "published_at": version.published_at.isoformat(),
        "cases_url": public_url(path),
    }
