"""The audit log: every reviewer, lead, key and CLI action leaves exactly one row saying
who, when, what, in which project and from where; rolled-back actions leave none; staff
and project admins read, filter and export it, nobody else does."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import ApiKey, AuditEntry, Membership
from datasets.models import Case, GoldenSetVersion
from datasets.results import results_run_record
from datasets.services import golden_set_version_publish
from tests.factories import (
    CaseFactory,
    GoldenSetFactory,
    MembershipFactory,
    api_key_for,
    make_item,
)
from triage.models import Incident, QueueItem
from triage.services import queue_item_claim, queue_item_label

pytestmark = pytest.mark.django_db

IP, AGENT = "203.0.113.7", "audit-test/1.0"
# Free text people type into actions; it must never reach an audit row or an export.
NAME, EMAIL = "Maria Gonzalez", "maria.gonzalez@example.com"


class Trail:
    """Asserts that exactly one new row was written since the last check, and what it says."""

    def __init__(self):
        self.last = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def one(self, action, actor, target, project, ip=IP, agent=AGENT):
        rows = list(AuditEntry.objects.filter(pk__gt=self.last).order_by("pk"))
        seen = [(r.action, r.actor, r.target_type, r.target_id, r.project_id) for r in rows]
        target_type, target_id = target
        assert seen == [(action, actor, target_type, str(target_id), project.pk)]
        (row,) = rows
        assert (row.ip, row.user_agent) == (ip, agent)
        assert row.at <= timezone.now()
        self.last = row.pk
        return row


def _browser(user):
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    client.force_login(user)
    return client


def test_each_reviewer_and_lead_action_leaves_one_row(project, lead, reviewer):
    boss = MembershipFactory(project=project, role="lead", user__username="bea").user
    rico, lena, bea = _browser(reviewer), _browser(lead), _browser(boss)
    base = f"/p/{project.slug}"
    item, other = make_item(project, score=9.0), make_item(project, score=1.0)
    trail = Trail()

    assert rico.post(f"{base}/items/{other.pk}/claim").status_code == 302
    trail.one("queue_item.claim", "rico", ("queueitem", other.pk), project)
    assert rico.post(f"{base}/items/{other.pk}/skip").status_code in (200, 302)
    trail.one("queue_item.skip", "rico", ("queueitem", other.pk), project)
    assert rico.post(f"{base}/queue/claim").status_code == 302  # claim next: the best item
    row = trail.one("queue_item.claim", "rico", ("queueitem", item.pk), project)
    assert rico.post(f"{base}/queue/claim").status_code == 302  # still held: no new claim
    assert not AuditEntry.objects.filter(pk__gt=row.pk).exists()

    assert lena.post(f"{base}/items/{item.pk}/take-over").status_code == 302
    row = trail.one("queue_item.take_over", "lena", ("queueitem", item.pk), project)
    assert row.details == {"from_user_id": reviewer.pk}

    item.refresh_from_db()
    labelled = lena.post(
        f"{base}/items/{item.pk}/label",
        {"version": item.version, "decision": "add_to_eval", "notes": f"{NAME} wrote in"},
    )
    assert labelled.status_code == 302
    row = trail.one("queue_item.label", "lena", ("queueitem", item.pk), project)
    assert row.details["decision"] == "add_to_eval"

    promoted = lena.post(
        f"{base}/items/{item.pk}/promote",
        {"new_golden_set": "Refunds", "input": json.dumps({"q": "refund?"}), "criteria": ""},
    )
    assert promoted.status_code == 302, promoted.content.decode()[:500]
    case = Case.objects.get()
    row = trail.one("queue_item.promote", "lena", ("queueitem", item.pk), project)
    assert row.details == {"case_id": case.case_id, "golden_set": "refunds"}

    sets = f"{base}/golden-sets/refunds"
    case_url = f"{sets}/cases/{case.case_id}"
    split = lena.post(
        f"{case_url}/split", {"split": "dev" if case.split == "holdout" else "holdout"}
    )
    assert split.status_code == 302
    trail.one("case.update", "lena", ("case", case.pk), project)
    case.refresh_from_db()
    if case.split != "holdout":  # back to holdout: the incident closes on a holdout pass
        lena.post(f"{case_url}/split", {"split": "holdout"})
        trail.one("case.update", "lena", ("case", case.pk), project)

    assert lena.post(f"{sets}/publish", {"notes": "v1"}).status_code == 302
    version = GoldenSetVersion.objects.get()
    trail.one("golden_set.publish", "lena", ("goldensetversion", version.pk), project)
    assert lena.post(f"{sets}/tags", {"tag": "prod", "version": 1}).status_code == 302
    row = trail.one("golden_set.tag", "lena", ("goldensetversion", version.pk), project)
    assert (row.details["tag"], row.details["number"]) == ("prod", 1)

    for status, action in (
        ("retired", "case.retire"),
        ("active", "case.restore"),
        ("quarantined", "case.quarantine"),
        ("active", "case.restore"),
    ):
        assert lena.post(f"{case_url}/status", {"status": status}).status_code == 302
        trail.one(action, "lena", ("case", case.pk), project)

    opened = lena.post(
        f"{base}/incidents/new", {"title": f"Refunds refused for {NAME}", "severity": "sev2"}
    )
    assert opened.status_code == 302
    incident = Incident.objects.get()
    trail.one("incident.open", "lena", ("incident", incident.pk), project)
    update = f"{base}/incidents/{incident.pk}/update"
    assert bea.post(update, {"case_id": case.case_id}).status_code == 302
    row = trail.one("incident.link", "bea", ("incident", incident.pk), project)
    assert row.details["case_ids"] == [case.pk]
    assert bea.post(update, {"note": f"Call {EMAIL}"}).status_code == 302
    row = trail.one("incident.note", "bea", ("incident", incident.pk), project)
    assert row.details["note"] is True
    assert bea.post(update, {"status": "mitigated"}).status_code == 302
    trail.one("incident.mitigate", "bea", ("incident", incident.pk), project)
    results_run_record(
        version=version, commit="c1", results=[{"case_id": case.case_id, "passed": True}]
    )
    assert bea.post(update, {"status": "closed"}).status_code == 302
    assert Incident.objects.get().status == "closed"
    trail.one("incident.close", "bea", ("incident", incident.pk), project)

    # Nothing anyone typed (the label's notes, the incident's title and note) is in a row.
    dump = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert NAME not in dump and EMAIL not in dump and "Maria" not in dump


def test_key_webhook_and_membership_changes_name_the_key_or_the_cli(project, settings):
    settings.TRIAGE_WEBHOOK_ALLOW_PRIVATE = True  # nothing is sent; no name to resolve
    trail = Trail()
    out = io.StringIO()
    call_command("create_api_key", "--project", project.slug, "--scopes", "admin", stdout=out)
    key = ApiKey.objects.get(project=project, scopes=["admin"])
    row = trail.one("api_key.create", "cli", ("apikey", key.pk), project, ip=None, agent="")
    assert row.details["prefix"] == key.prefix and row.actor_user is None
    raw = out.getvalue().strip()
    assert raw.startswith(key.prefix) and raw not in json.dumps(row.details)

    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT, headers={"Authorization": f"Bearer {raw}"})
    created = api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/triage", "events": ["golden_set.version_published"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    hook = created.json()["id"]
    label = f"api-key:{key.prefix}"
    row = trail.one("webhook.create", label, ("webhookendpoint", hook), project)
    assert row.actor_api_key == key and row.details["host"] == "127.0.0.1"
    assert created.json()["secret"] not in json.dumps(row.details)
    patched = api.patch(f"/api/v1/webhooks/{hook}", {"active": False}, "application/json")
    assert patched.status_code == 200 and patched.json()["active"] is False
    row = trail.one("webhook.update", label, ("webhookendpoint", hook), project)
    assert row.details == {"active": False}
    assert api.delete(f"/api/v1/webhooks/{hook}").status_code == 204
    trail.one("webhook.delete", label, ("webhookendpoint", hook), project)

    nina = ["--project", project.slug, "--username", "nina", "--role", "reviewer"]
    call_command("add_member", *nina, stdout=io.StringIO())
    membership = Membership.objects.get(user__username="nina")
    row = trail.one("membership.change", "cli", ("membership", membership.pk), project, None, "")
    assert row.details == {"user_id": membership.user_id, "role": "reviewer", "previous_role": None}
    call_command("add_member", *nina, stdout=io.StringIO())
    assert not AuditEntry.objects.filter(pk__gt=row.pk).exists()  # no change, no row

    call_command("revoke_api_key", key.prefix, stdout=io.StringIO())
    trail.one("api_key.revoke", "cli", ("apikey", key.pk), project, ip=None, agent="")
    call_command("revoke_api_key", key.prefix, stdout=io.StringIO())  # already revoked
    assert AuditEntry.objects.filter(action="api_key.revoke").count() == 1


def test_api_actions_name_the_key(project, lead):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set)
    version = golden_set_version_publish(golden_set=golden_set, user=lead)
    raw = api_key_for(project, ["admin"])
    key = ApiKey.objects.get(prefix=raw[:12])
    api = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT, headers={"Authorization": f"Bearer {raw}"})
    trail = Trail()

    moved = api.put(
        "/api/v1/golden-sets/refunds/tags/prod", {"version": 1}, content_type="application/json"
    )
    assert moved.status_code == 200, moved.content
    label = f"api-key:{key.prefix}"
    row = trail.one("golden_set.tag", label, ("goldensetversion", version.pk), project)
    assert row.actor_api_key == key and row.actor_user is None
    opened = api.post(
        "/api/v1/incidents",
        {"title": f"Refunds for {NAME}", "severity": "sev3"},
        content_type="application/json",
    )
    assert opened.status_code == 201, opened.content
    trail.one("incident.open", label, ("incident", opened.json()["id"]), project)
    assert NAME not in json.dumps(list(AuditEntry.objects.values("details")))


def test_a_rolled_back_action_leaves_no_row(project, reviewer):
    item = make_item(project)
    assert queue_item_claim(item=item, user=reviewer)
    claimed = AuditEntry.objects.count()
    item.refresh_from_db()
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_item_label(item=item, user=reviewer, version=item.version, decision="add_to_eval")
        raise RuntimeError("the caller's transaction fails after the label")
    item.refresh_from_db()
    assert item.status == QueueItem.Status.CLAIMED and item.decision == ""
    assert AuditEntry.objects.count() == claimed


def test_the_client_address_is_taken_through_the_configured_proxies(project, lead, settings):
    browser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9")
    browser.force_login(lead)
    item = make_item(project)
    browser.post(f"/p/{project.slug}/items/{item.pk}/claim")
    assert AuditEntry.objects.get().ip == "10.0.0.2"  # no proxy configured: header ignored
    settings.TRIAGE_PROXY_COUNT = 1
    browser.post(f"/p/{project.slug}/items/{make_item(project).pk}/claim")
    assert AuditEntry.objects.order_by("-pk").first().ip == "203.0.113.9"


# --- reading and exporting -----------------------------------------------------------------


@pytest.fixture
def log(project, other_project, lead):
    """Rows in two projects, by two actors, over three days."""
    rows = []
    now = timezone.now()
    for n in range(60):
        rows.append(
            AuditEntry(
                at=now - timedelta(days=n % 3, minutes=n),
                project=project,
                actor="lena",
                actor_user=lead,
                action="queue_item.label" if n % 2 else "queue_item.claim",
                target_type="queueitem",
                target_id=str(1000 + n),
                details={"decision": "add_to_eval"},
                ip="203.0.113.7",
                user_agent=AGENT,
            )
        )
    rows.append(
        AuditEntry(project=other_project, actor="olaf", action="pii.reveal", target_id="77")
    )
    AuditEntry.objects.bulk_create(rows)
    return rows


def test_only_staff_and_project_admins_read_the_log(project, other_project, lead, reviewer, log):
    for user in (lead, reviewer):
        client = _browser(user)
        for path in ("/audit/", "/audit/export.csv", "/audit/export.jsonl"):
            response = client.get(path)
            assert response.status_code == 403, (user, path)
            assert b"lena" not in b"".join(
                getattr(response, "streaming_content", [response.content])
            )
    anonymous = Client().get("/audit/export.csv")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    link = f'href="/audit/?project={project.slug}">Audit log</a>'
    assert link not in _browser(lead).get(f"/p/{project.slug}/queue/").content.decode()
    admin = MembershipFactory(project=project, role="admin", user__username="ada").user
    assert link in _browser(admin).get(f"/p/{project.slug}/queue/").content.decode()
    page = _browser(admin).get("/audit/")
    html = page.content.decode()
    assert page.status_code == 200 and '<p id="audit-count">60 entries</p>' in html
    assert html.count("<tr>") == 1 + 50 and "page 1 of 2" in html
    assert "olaf" not in html  # another project's row
    staff = MembershipFactory(project=other_project, user__username="sam").user
    staff.is_staff = True
    staff.save()
    assert '<p id="audit-count">61 entries</p>' in _browser(staff).get("/audit/").content.decode()


def test_filters_narrow_the_page_and_the_export(project, lead, log):
    admin = MembershipFactory(project=project, role="admin", user__username="ada").user
    client = _browser(admin)
    today = timezone.localdate()
    html = client.get(
        "/audit/", {"action": "queue_item.label", "since": today, "until": today, "actor": "lena"}
    ).content.decode()
    expected = [
        r.target_id
        for r in log[:60]
        if r.action == "queue_item.label" and timezone.localtime(r.at).date() == today
    ]
    assert 0 < len(expected) < 30
    assert f'<p id="audit-count">{len(expected)} entries</p>' in html
    assert html.count("<code>queue_item.label</code>") == len(expected)
    assert all(f"queueitem {target_id}<" in html for target_id in expected)
    assert "<code>queue_item.claim</code>" not in html
    second = client.get("/audit/", {"page": 2}).content.decode()
    assert '<p id="audit-count">60 entries</p>' in second and second.count("<tr>") == 1 + 10
    jsonl = b"".join(
        client.get("/audit/export.jsonl", {"action": "queue_item.claim"}).streaming_content
    )
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert len(lines) == 30 and {line["action"] for line in lines} == {"queue_item.claim"}
    edges = client.get("/audit/", {"since": "0001-01-01", "until": "9999-12-31"})
    assert (
        edges.status_code == 200 and '<p id="audit-count">60 entries</p>' in edges.content.decode()
    )
    bad = client.get("/audit/", {"since": "2026-13-01"})
    assert bad.status_code == 400 and '<p id="audit-count">0 entries</p>' in bad.content.decode()
    bad = client.get("/audit/export.csv", {"since": "2026-13-01", "action": "nope"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"since", "action"}


def test_exports_hold_every_row_and_no_raw_pii(project, lead):
    admin = MembershipFactory(project=project, role="admin", user__username="ada").user
    item = make_item(project)
    browser = _browser(lead)
    browser.post(f"/p/{project.slug}/items/{item.pk}/claim")
    item.refresh_from_db()
    browser.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {"version": item.version, "decision": "add_to_eval", "notes": f"{NAME}, {EMAIL}"},
    )
    browser.post(
        f"/p/{project.slug}/incidents/new", {"title": f"{NAME} refund", "severity": "sev3"}
    )
    with transaction.atomic():  # a caller passing free text anyway gets it cut, not nested
        audit_record(action="test.nested", project=project, details={"x": {"text": NAME}})
    client = _browser(admin)

    response = client.get("/audit/export.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    body = b"".join(response.streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(r["action"], r["actor"], r["project"], r["ip"]) for r in rows] == [
        ("test.nested", "system", project.slug, ""),
        ("incident.open", "lena", project.slug, IP),
        ("queue_item.label", "lena", project.slug, IP),
        ("queue_item.claim", "lena", project.slug, IP),
    ]
    assert json.loads(rows[2]["details"])["decision"] == "add_to_eval"

    jsonl = b"".join(client.get("/audit/export.jsonl").streaming_content)
    entries = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert [e["action"] for e in entries] == [r["action"] for r in rows]
    assert entries[2]["target_id"] == str(item.pk) and entries[2]["user_agent"] == AGENT
    for data in (body, jsonl):
        assert NAME.encode() not in data and EMAIL.encode() not in data and b"Maria" not in data


def test_the_django_admin_shows_the_log_read_only(project, log, admin_client):
    listing = admin_client.get("/admin/accounts/auditentry/")
    assert listing.status_code == 200 and "queue_item.label" in listing.content.decode()
    assert admin_client.get("/admin/accounts/auditentry/add/").status_code == 403
    entry = AuditEntry.objects.first()
    deleted = admin_client.post(f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403 and AuditEntry.objects.filter(pk=entry.pk).exists()
