"""Revealing PII in a real Chromium: the reveal permission counts only where the user is a
lead, so a lead of one project who is a reviewer in another sees no reveal control there,
and a forged reveal is refused."""

import json

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from accounts.models import AuditEntry
from tests.browser import log_in, new_page, shot
from tests.factories import FeedbackEventFactory, MembershipFactory
from triage.models import Cluster, QueueItem
from triage.scrubbing import queue_item_scrub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FORGED_REVEAL = """async (url) => {
  const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  const r = await fetch(url, {method: "POST", headers: {"X-CSRFToken": token}});
  return [r.status, await r.text()];
}"""


def _item_with_a_name(project):
    cluster = Cluster.objects.create(project=project, fingerprint="fp", event_count=1)
    FeedbackEventFactory(
        project=project, cluster=cluster, comment="Wrong refund! I'm Maria Gonzalez."
    )
    return queue_item_scrub(item=QueueItem.objects.create(project=project, cluster=cluster))


def test_a_lead_elsewhere_sees_no_reveal_control_where_they_review(
    browser, live_server, project, other_project
):
    item_a, item_b = _item_with_a_name(project), _item_with_a_name(other_project)
    lena = MembershipFactory(project=project, role="reviewer", user__username="lena").user
    MembershipFactory(project=other_project, role="lead", user=lena)
    lena.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    page = new_page(browser)
    log_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/items/{item_a.pk}/")
    expect(page.locator("mark.pii").first).to_contain_text("<PERSON_1>")
    expect(page.locator("button.pii-reveal")).to_have_count(0)
    status, body = page.evaluate(FORGED_REVEAL, f"/p/{project.slug}/items/{item_a.pk}/pii/PERSON_1")
    assert status == 403 and "Maria" not in body
    shot(page, "reveal-refused")

    page.goto(f"{live_server.url}/p/{other_project.slug}/items/{item_b.pk}/")
    page.locator("button.pii-reveal").first.click()
    expect(page.locator("mark.pii.revealed").first).to_contain_text("Maria Gonzalez")
    (entry,) = AuditEntry.objects.filter(action="pii.reveal")
    assert (entry.actor, entry.project_id, entry.target_id) == (
        "lena",
        other_project.pk,
        str(item_b.pk),
    )
    assert json.dumps(entry.details) == '{"placeholder": "<PERSON_1>"}'
