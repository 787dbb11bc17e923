"""Incidents: open, scope, close only with eval proof, postmortem, 30-day check, eval debt."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from datasets import services as dataset_services
from datasets.results import results_run_record
from tests.factories import (
    CaseFactory,
    FeedbackEventFactory,
    GoldenSetFactory,
    MembershipFactory,
    ProjectFactory,
    api_key_for,
    make_item,
)
from triage import incidents
from triage.eval_debt import eval_debt
from triage.models import Incident
from triage.services import queue_item_claim_next, queue_item_label, queue_item_promote
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(project):
    return Client(headers={"Authorization": f"Bearer {api_key_for(project, ['admin'])}"})


@pytest.fixture
def published(project, lead):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set, split="holdout")
    CaseFactory(golden_set=golden_set, split="dev")
    return dataset_services.golden_set_version_publish(golden_set=golden_set, user=lead)


def _results(version, commit, **passed):
    results_run_record(
        version=version,
        commit=commit,
        results=[{"case_id": f"refunds-00{n}", "passed": p} for n, p in passed.items()],
    )


def test_api_opens_an_incident_with_links_and_refuses_unknown_ids(admin_api, project, lead):
    webhook_endpoint_create(
        project=project, url="https://ops.example.com/h", events=["incident.opened"]
    )
    item = make_item(project)
    response = admin_api.post(
        "/api/v1/incidents",
        {"title": "Wrong refund policy for EU users since 14:00", "severity": "sev2",
         "impact": "EU customers told refunds are impossible; Maria Gonzalez complained",
         "impact_share": 0.032, "root_cause_layer": "retrieval", "prompt_hash": "a9f2",
         "cluster_ids": [item.cluster_id], "owners": [lead.username]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get(pk=body["id"])
    assert (incident.status, incident.severity, incident.prompt_hash) == ("open", "sev2", "a9f2")
    assert "Maria Gonzalez" not in incident.impact and "<PERSON_1>" in incident.impact
    assert list(incident.clusters.all()) == [item.cluster]
    assert body["timeline"][0]["text"] == "Opened (sev2)."
    (delivery,) = WebhookDelivery.objects.filter(event="incident.opened")
    assert delivery.payload["incident_id"] == incident.pk

    for payload, field in (
        ({"title": "x", "severity": "sev9"}, "severity"),
        ({"title": "x", "severity": "sev1", "cluster_ids": [999]}, "cluster_ids"),
        # Past bigint: was a 500 (OverflowError at the query), found by schemathesis.
        ({"title": "x", "severity": "sev1", "cluster_ids": [2**70]}, "cluster_ids[0]"),
        ({"title": "x", "severity": "sev1", "case_ids": ["nope-001"]}, "case_ids"),
        ({"title": "x", "severity": "sev1", "owners": ["stranger"]}, "owners"),
        # Wrong JSON types are refused, not coerced ("12", 1.0, 5).
        ({"title": "x", "severity": "sev1", "mitigation": 12}, "mitigation"),
        ({"title": "x", "severity": "sev1", "impact_share": True}, "impact_share"),
        ({"title": "x", "severity": "sev1", "cluster_ids": ["5"]}, "cluster_ids[0]"),
    ):
        bad = admin_api.post("/api/v1/incidents", payload, content_type="application/json")
        assert bad.status_code == 400 and field in bad.json()["fields"], (payload, bad.content)
        if field in {"cluster_ids", "case_ids", "owners"}:
            # A missing object, said so (tests/test_schemathesis.py REFERENCE_FIELDS reads it).
            assert bad.json()["fields"][field][0].startswith("Unknown ")
    assert Incident.objects.count() == 1


def test_closing_needs_every_linked_case_passing_in_holdout(admin_api, project, published):
    incident = incidents.incident_open(project=project, user=None, title="t", severity="sev3")
    url = f"/api/v1/incidents/{incident.pk}"

    def close():
        return admin_api.patch(url, {"status": "closed"}, content_type="application/json")

    refused = close()
    assert refused.status_code == 409 and refused.json()["error"] == "eval_not_proven"
    both = {"case_ids": ["refunds-001", "refunds-002"]}
    admin_api.patch(url, both, content_type="application/json")
    _results(published, "c1", **{"1": True, "2": True})
    refused = close()  # refunds-002 passes, but only in dev
    assert refused.status_code == 409
    assert refused.json()["fields"]["cases"] == ["refunds-002"]
    assert Incident.objects.get(pk=incident.pk).status == "open"

    incident.cases.remove(*incident.cases.filter(case_id="refunds-002"))
    closed = close()
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    closed_at = Incident.objects.get(pk=incident.pk).closed_at
    again = close()  # idempotent
    assert again.status_code == 200 and again.json()["status"] == "closed"
    assert Incident.objects.get(pk=incident.pk).closed_at == closed_at
    assert [c["passes_in_holdout"] for c in again.json()["cases"]] == [True]


def test_a_case_promoted_while_an_incident_is_linked_is_its_action_item(project, lead):
    item = make_item(project)
    incident = incidents.incident_open(
        project=project, user=lead, title="t", severity="sev2", clusters=[item.cluster]
    )
    item = queue_item_claim_next(project=project, user=lead)
    item = queue_item_label(item=item, user=lead, version=item.version, decision="add_to_eval")
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    case = queue_item_promote(item=item, golden_set=golden_set, user=lead)
    assert case.source == f"incident-{incident.pk}"
    assert list(incident.cases.all()) == [case]


def test_postmortem_and_the_30_day_check(
    admin_api, project, published, lead, django_capture_on_commit_callbacks
):
    lead.email = "lead@example.com"
    lead.save()
    with django_capture_on_commit_callbacks(execute=True):
        incident = incidents.incident_open(
            project=project, user=lead, title="Refund bot denies EU refunds", severity="sev1",
            owners=[lead.username], trace_ids=["t-1"], mitigation="Rolled back prompt a9f2",
        )  # fmt: skip
        holdout = list(published.golden_set.cases.filter(split="holdout"))
        incidents.incident_update(incident=incident, user=lead, cases=holdout)
        _results(published, "c1", **{"1": True})
        incidents.incident_update(incident=incident, user=lead, status="closed")
    # The owner hears of the opening and the close.
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["lead@example.com"], "[Triage] sev1 opened: Refund bot denies EU refunds"),
        (["lead@example.com"], "[Triage] sev1 closed: Refund bot denies EU refunds"),
    ]

    md = admin_api.get(f"/api/v1/incidents/{incident.pk}/postmortem.md")
    assert md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    assert "# Postmortem: Refund bot denies EU refunds" in text
    assert "- refunds-001: passes in holdout" in text
    assert "Rolled back prompt a9f2" in text
    assert "- t-1" in text and "Closed: every linked case passes in holdout." in text

    incident.refresh_from_db()
    later = incident.closed_at + timedelta(days=31)
    check = incidents.incident_repeat_check(incident, now=later)
    assert check["due"] and not check["caught_repeat"] and not check["confirmed"]
    due = eval_debt(project=project, now=later)["repeat_checks_due"]
    assert [r["incident_id"] for r in due] == [incident.pk]
    _results(published, "c2", **{"1": False})  # a repeat: the case caught it
    check = incidents.incident_repeat_check(incident, now=later)
    assert check["caught_repeat"] and check["failing_cases"] == ["refunds-001"]
    incidents.incident_repeat_confirm(incident=incident, user=lead, note="caught on c2")
    assert eval_debt(project=project, now=later)["repeat_checks_due"] == []


def test_scope_counts_matching_complaints_per_hour(project):
    now = timezone.now()
    for minutes, prompt in ((10, "a9f2"), (20, "a9f2"), (30, "other")):
        FeedbackEventFactory(
            project=project, prompt_hash=prompt, created_at=now - timedelta(minutes=minutes)
        )
    incident = incidents.incident_open(
        project=project, user=None, title="t", severity="sev2", prompt_hash="a9f2",
        opened_at=now - timedelta(hours=1),
    )  # fmt: skip
    scope = incidents.incident_scope(incident, now=now)
    assert scope["complaints"] == 2
    assert sum(h["complaints"] for h in scope["hours"]) == 2


def test_eval_debt_lists_what_is_owed_with_links(project, lead):
    item = make_item(project, category="unsafe")
    item.cluster.first_seen_at = timezone.now() - timedelta(hours=100)
    item.cluster.save()
    incidents.incident_open(project=project, user=lead, title="no cases", severity="sev3")
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    CaseFactory(golden_set=golden_set)
    flaky = CaseFactory(golden_set=golden_set)
    dataset_services.case_update(case=flaky, changes={"status": "quarantined"}, user=lead)
    reader = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    debt = reader.get("/api/v1/eval-debt").json()

    assert [r["title"] for r in debt["incidents_without_cases"]] == ["no cases"]
    assert [r["case_id"] for r in debt["cases_unpublished"]] == ["refunds-001", "refunds-002"]
    assert [r["case_id"] for r in debt["quarantined_cases"]] == ["refunds-002"]
    quarantined_url = f"/p/{project.slug}/golden-sets/refunds/cases/refunds-002/"
    assert debt["quarantined_cases"][0]["url"] == quarantined_url
    assert [r["item_id"] for r in debt["items_past_sla"]] == [item.pk]
    assert debt["items_past_sla"][0]["url"] == f"/p/{project.slug}/items/{item.pk}/"
    assert set(debt) == {
        "incidents_without_cases", "cases_unpublished", "items_past_sla", "known_issues_rising",
        "quarantined_cases", "holdout_regressions", "repeat_checks_due",
    }  # fmt: skip


def test_pages_leads_open_from_an_item_and_reviewers_only_read(project, lead, reviewer):
    item = make_item(project)
    lead_client, reviewer_client = Client(), Client()
    lead_client.force_login(lead)
    reviewer_client.force_login(reviewer)

    assert (
        reviewer_client.post(f"/p/{project.slug}/incidents/new", {"item": item.pk}).status_code
        == 403
    )
    response = lead_client.post(f"/p/{project.slug}/incidents/new", {"item": item.pk})
    incident = Incident.objects.get()
    assert response.url == f"/p/{project.slug}/incidents/{incident.pk}/"
    assert list(incident.clusters.all()) == [item.cluster] and incident.severity == "sev2"
    assert incident.prompt_hash == "ph-1" and incident.model_id == "gpt-4o-mini"

    page = reviewer_client.get(response.url).content.decode()
    assert "No golden case linked" in page and "Close (needs eval proof)" not in page
    lead_page = lead_client.get(response.url).content.decode()
    assert "Close (needs eval proof)" in lead_page
    refused = lead_client.post(
        f"/p/{project.slug}/incidents/{incident.pk}/update", {"status": "closed"}, follow=True
    )
    assert "Not closed: eval not proven" in refused.content.decode()
    assert Incident.objects.get().status == "open"
    listing = reviewer_client.get(f"/p/{project.slug}/incidents/").content.decode()
    assert f"#{incident.pk}" in listing
    debt = reviewer_client.get(f"/p/{project.slug}/eval-debt/").content.decode()
    assert f'href="/p/{project.slug}/incidents/{incident.pk}/"' in debt
    assert "<script>" not in debt and "&lt;script&gt;" in debt  # the comment's text, escaped
    other = ProjectFactory()
    MembershipFactory(project=other, user=lead, role="lead")
    assert lead_client.get(f"/p/{other.slug}/incidents/{incident.pk}/").status_code == 404
