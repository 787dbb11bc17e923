"""Writes for golden sets: cases and their revisions, imports, immutable published versions."""

import re

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.audit import audit_record
from webhooks.services import public_url, webhook_emit

from . import jsonl, selectors
from .models import CASE_FIELDS, Case, CaseRevision, GoldenSet, GoldenSetVersion
from .scrubbing import values_scrub

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SLUG_HELP = "Use 1–50 lowercase letters, digits, hyphens or underscores, e.g. refunds."
TEXT_FIELDS = ("input", "expected", "criteria")  # what may carry PII: scrubbed on every write


class PublishError(Exception):
    pass


class NothingChanged(PublishError):
    """The working copy equals the latest version."""


class InvalidInput(Exception):
    """Bad values, by field: {"field": ["message", …]}."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(" ".join(m for messages in fields.values() for m in messages))


class AlreadyExists(Exception):
    pass


def golden_set_get_or_create(*, project, name, slug=""):
    slug = slug or slugify(name)[:50]
    if not slug:
        raise ValueError("A golden set needs a name.")
    golden_set, _ = GoldenSet.objects.get_or_create(
        project=project, slug=slug, defaults={"name": name or slug}
    )
    return golden_set


def golden_set_create(*, project, slug, name):
    if not SLUG_RE.fullmatch(slug or "") or len(slug) > 50:
        raise InvalidInput({"slug": [SLUG_HELP]})
    if not (name or "").strip():
        raise InvalidInput({"name": ["A golden set needs a name."]})
    golden_set, created = GoldenSet.objects.get_or_create(
        project=project, slug=slug, defaults={"name": name.strip()[:200]}
    )
    if not created:
        raise AlreadyExists(f"A golden set '{slug}' already exists in this project.")
    return golden_set


def _revision_of(case, *, revision, changed, user, latest, via="", csv_writer=None):
    """The revision row of the case's current state. It enters the next version (its
    range opens at latest + 1) when active; retired or quarantined, it enters none."""
    wire = {
        "case_id": case.case_id,
        "input": case.input,
        "expected": case.expected,
        "criteria": case.criteria,
        "tags": list(case.tags),
        "failure_mode": case.failure_mode,
        "split": case.split,
        "source": case.source,
    }
    return CaseRevision(
        golden_set_id=case.golden_set_id,
        case=case,
        revision=revision,
        case_number=case.number,
        case_key=case.case_id,
        source=case.source,
        input=case.input,
        expected=case.expected,
        criteria=case.criteria,
        tags=wire["tags"],
        failure_mode=case.failure_mode,
        split=case.split,
        status=case.status,
        changed=changed,
        created_by=user,
        via=via[:80],
        line=jsonl.case_line(wire),
        csv_line=(csv_writer or jsonl.CsvWriter()).row(wire),
        first_version=latest + 1 if case.status == Case.Status.ACTIVE else None,
    )


def _latest_number(golden_set_id):
    """The latest published version number (0: none). Call with the set row locked."""
    numbers = GoldenSetVersion.objects.filter(golden_set_id=golden_set_id)
    return numbers.aggregate(latest=Max("number"))["latest"] or 0


def _lock(golden_set_id):
    """Edits and publishes of one set take turns: a revision's range is decided against
    the latest version, which must not move meanwhile."""
    GoldenSet.objects.select_for_update().filter(pk=golden_set_id).first()
    return _latest_number(golden_set_id)


def _supersede(case_pk, revision, latest):
    """The case's revision `revision` stops being current: if published and open, its
    range closes at the latest version; if only pending (never published), it is dropped."""
    rows = CaseRevision.objects.filter(case_id=case_pk, revision=revision)
    rows.filter(first_version__lte=latest, last_version__isnull=True).update(last_version=latest)
    rows.filter(first_version__gt=latest).update(first_version=None)


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
    case_id=None,
    split=None,
    via="",
):
    """Add a case (revision 1) to the set's working copy with the next number; its split
    follows from its id (deterministic) unless given. Text must already be scrubbed."""
    with transaction.atomic():
        # Lock the set so concurrent promotions get consecutive numbers.
        latest = _lock(golden_set.pk)
        number = (
            golden_set.cases.order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        if case_id is None:
            case_id = f"{golden_set.slug}-{number:03d}"
            # An imported case may hold the id a number would give: take the next free one.
            while golden_set.cases.filter(case_id=case_id).exists():
                number += 1
                case_id = f"{golden_set.slug}-{number:03d}"
        case = Case.objects.create(
            golden_set=golden_set,
            number=number,
            case_id=case_id,
            input=input,
            expected=expected,
            criteria=criteria,
            tags=list(tags),
            failure_mode=failure_mode,
            split=split or jsonl.split_for(case_id, settings.TRIAGE_HOLDOUT_PERCENT),
            source=source,
            cluster=cluster,
            queue_item=queue_item,
            trace_ids=list(trace_ids),
            created_by=user,
            first_feedback_at=first_feedback_at,
        )
        _revision_of(case, revision=1, changed=[], user=user, latest=latest, via=via).save()
    return case


def _revisions_materialise(golden_set, latest):
    """Give a revision row to every case whose current revision has none (rows written
    straight to the table, e.g. by older code or fixtures): the working copy is the truth.
    Call with the set locked."""
    has_row = CaseRevision.objects.filter(case=OuterRef("pk"), revision=OuterRef("revision"))
    missing = Case.objects.filter(golden_set=golden_set).filter(~Exists(has_row))
    writer = jsonl.CsvWriter()
    created = CaseRevision.objects.bulk_create(
        (
            _revision_of(
                c, revision=c.revision, changed=[], user=None, latest=latest, csv_writer=writer
            )
            for c in missing.iterator()
        ),
        batch_size=2000,
    )
    if created:
        # Such a case may also have an older revision still current in the ranges.
        stale = CaseRevision.objects.filter(golden_set=golden_set).exclude(
            revision=F("case__revision")
        )
        stale.filter(first_version__lte=latest, last_version__isnull=True).update(
            last_version=latest
        )
        stale.filter(first_version__gt=latest).update(first_version=None)


# A status change is a retire, a quarantine or a restore in the audit log.
CASE_STATUS_ACTIONS = {
    Case.Status.RETIRED: "case.retire",
    Case.Status.QUARANTINED: "case.quarantine",
    Case.Status.ACTIVE: "case.restore",
}


def case_update(*, case, changes, user, scrub=True, via=""):
    """Apply `changes` (any of CASE_FIELDS, values already validated) as a new revision.

    Text fields are PII-scrubbed first, with the case's placeholders (see
    datasets.scrubbing). No actual difference → no revision. Published versions read
    their own revision rows, so they never change.
    """
    unknown = set(changes) - set(CASE_FIELDS)
    if unknown:
        raise InvalidInput({name: ["Not a field of a case."] for name in sorted(unknown)})
    changes = dict(changes)
    # Only text that differs is scrubbed: re-detecting in unchanged, already scrubbed text
    # could only make spurious edits.
    text = [n for n in TEXT_FIELDS if n in changes and changes[n] != getattr(case, n)]
    if scrub and text:
        scrubbed = values_scrub([(case, [changes[name] for name in text])])[0]
        changes.update(zip(text, scrubbed, strict=True))
    with transaction.atomic():
        latest = _lock(case.golden_set_id)
        case = Case.objects.select_for_update().get(pk=case.pk)
        changed = [
            name for name in CASE_FIELDS if name in changes and getattr(case, name) != changes[name]
        ]
        if not changed:
            return case
        if not CaseRevision.objects.filter(case=case, revision=case.revision).exists():
            # A row written straight to the table: keep its current state as a revision.
            _revision_of(case, revision=case.revision, changed=[], user=None, latest=latest).save()
        _supersede(case.pk, case.revision, latest)
        for name in changed:
            setattr(case, name, changes[name])
        case.revision += 1
        case.save(update_fields=[*changed, "revision"])
        _revision_of(
            case, revision=case.revision, changed=changed, user=user, latest=latest, via=via
        ).save()
        action = CASE_STATUS_ACTIONS.get(case.status) if "status" in changed else "case.update"
        details = {"case_id": case.case_id, "revision": case.revision, "fields": changed}
        project = case.golden_set.project_id
        audit_record(action=action, target=case, project=project, actor=user, details=details)
    return case


def cases_import(*, golden_set, rows, user, via=""):
    """Import parsed rows (datasets.importing): a row whose `case_id` exists updates that
    case (a new revision when something differs), any other row creates a case keeping
    its id. All or nothing; text scrubbed first (fresh placeholders for new cases)."""
    given = [row["case_id"] for row in rows if row.get("case_id")]
    existing = {c.case_id: c for c in golden_set.cases.filter(case_id__in=given)}
    # Text to scrub per row: all of a new case's, only what differs on an existing one.
    fields = []
    for row in rows:
        case = existing.get(row.get("case_id"))
        fields.append(
            [n for n in TEXT_FIELDS if n in row and (case is None or row[n] != getattr(case, n))]
        )
    batch = [
        (existing.get(row.get("case_id")), [row[n] for n in names])
        for row, names in zip(rows, fields, strict=True)
    ]
    scrubbed = values_scrub(batch)
    source = f"import-{timezone.now():%Y-%m-%d}"
    created, updated, case_ids = 0, 0, []
    with transaction.atomic():
        for row, names, values in zip(rows, fields, scrubbed, strict=True):
            row = dict(row)
            row.update(zip(names, values, strict=True))
            case = existing.get(row.get("case_id"))
            if case is not None:
                changes = {k: v for k, v in row.items() if k in CASE_FIELDS}
                before = case.revision
                case = case_update(case=case, changes=changes, user=user, scrub=False, via=via)
                updated += case.revision != before
            else:
                case = case_create(
                    golden_set=golden_set,
                    input=row["input"],
                    expected=row.get("expected"),
                    criteria=row.get("criteria", ""),
                    tags=row.get("tags", []),
                    failure_mode=row.get("failure_mode", ""),
                    source=source,
                    user=user,
                    case_id=row.get("case_id") or None,
                    split=row.get("split"),
                    via=via,
                )
                created += 1
            case_ids.append(case.case_id)
        details = {"golden_set": golden_set.slug, "created": created, "updated": updated}
        audit_record(action="cases.import", target=golden_set, actor=user, details=details)
    return {"created": created, "updated": updated, "case_ids": case_ids}


def golden_set_version_publish(*, golden_set, user, notes="", tags=()):
    """Freeze the working copy's active cases into version N with a sha256 digest.

    Edits already decided each revision's range when they were written (a new active
    revision opens at N, the one it replaced closes at N-1), so publishing reads the
    version once for its digest and writes one version row: no revision row is touched,
    however large the set.
    """
    tags = [tag_validate(tag) for tag in tags]
    with transaction.atomic():
        previous = _lock(golden_set.pk)
        latest = golden_set.versions.filter(number=previous).defer("body").first()
        number = previous + 1
        _revisions_materialise(golden_set, latest=previous)
        revisions = CaseRevision.objects.filter(golden_set=golden_set)
        changed = (
            revisions.filter(first_version=number).exists()
            or revisions.filter(last_version=previous).exists()
        )
        if latest and not changed:
            raise NothingChanged(f"Nothing changed since version {latest.number}.")
        digests = selectors.version_digests(golden_set=golden_set, number=number)
        if not digests["case_count"]:
            raise PublishError("This golden set has no active cases yet; promote one first.")
        if latest and latest.digest == digests["digest"]:
            raise NothingChanged(f"Nothing changed since version {latest.number}.")
        version = GoldenSetVersion.objects.create(
            golden_set=golden_set,
            number=number,
            digest=digests["digest"],
            csv_digest=digests["csv_digest"],
            case_count=digests["case_count"],
            body="",
            notes=notes,
            published_by=user,
        )
        for tag in tags:
            golden_set_version_tag(version=version, tag=tag, user=user)
        webhook_emit(
            project=golden_set.project,
            event="golden_set.version_published",
            payload=version_published_payload(version),
        )
        Case.objects.filter(
            golden_set=golden_set, status=Case.Status.ACTIVE, first_published_at__isnull=True
        ).update(first_published_at=version.published_at, first_published_version=version)
        details = {"golden_set": golden_set.slug, "number": number, "tags": tags}
        audit_record(
            action="golden_set.publish",
            target=version,
            project=golden_set.project_id,
            actor=user,
            details=details,
        )
    return version


def tag_validate(tag):
    tag = (tag or "").strip()
    if not SLUG_RE.fullmatch(tag) or len(tag) > 50:
        message = f"'{tag}' is not a tag: use lowercase letters, digits, hyphens or underscores."
        raise InvalidInput({"tag": [message + " For example: prod."]})
    if tag.isdigit() or tag == "latest":
        raise InvalidInput({"tag": [f"'{tag}' cannot be a tag: it would shadow a version ref."]})
    return tag


def golden_set_version_tag(*, version, tag, user=None):
    """Point `tag` (e.g. `prod`) at this version; a tag names one version per set.

    `user`: who moved it, for the audit log (default: the request's user or API key).
    """
    tag = tag_validate(tag)
    with transaction.atomic():
        moved_from = None
        for other in version.golden_set.versions.exclude(pk=version.pk).select_for_update():
            if tag in other.tags:
                other.tags = [t for t in other.tags if t != tag]
                other.save(update_fields=["tags"])
                moved_from = other.number
        if tag not in version.tags:
            version.tags = [*version.tags, tag]
            version.save(update_fields=["tags"])
            details = {
                "golden_set": version.golden_set.slug,
                "tag": tag,
                "number": version.number,
                "from_number": moved_from,
            }
            audit_record(
                action="golden_set.tag",
                target=version,
                project=version.golden_set.project_id,
                actor=user,
                details=details,
            )
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
