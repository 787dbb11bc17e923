"""An incident, the way a lead works it in Chromium: open it from a queue item, promote a
case while it is linked, publish, see a failing then a passing holdout result, close it
and read the postmortem."""

import pytest
import requests
from playwright.sync_api import expect

from tests.browser import assert_no_script_ran, log_in, new_page, overflow, shot
from tests.factories import api_key_for, make_item
from triage.models import Incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_opens_proves_and_closes_an_incident(browser, live_server, project, lead):
    item = make_item(project, category="billing")
    page = new_page(browser, width=1440, height=900)
    log_in(page, live_server, lead.username)
    base = f"{live_server.url}/p/{project.slug}"

    # Open the incident from the queue item: prefilled, the cluster linked.
    page.goto(f"{base}/items/{item.pk}/")
    page.get_by_role("button", name="Open an incident from this item").click()
    expect(page.locator("#incident-status")).to_have_text("open")
    incident = Incident.objects.get()
    expect(page.locator("body")).to_contain_text("No golden case linked")
    page.get_by_role("button", name="Close (needs eval proof)").click()
    expect(page.locator(".msg.error")).to_contain_text("Not closed: eval not proven")

    # Review the item and promote its case while the incident is open.
    page.goto(f"{base}/items/{item.pk}/")
    page.get_by_role("button", name="Claim this item").click()
    page.locator("label", has_text="Add to eval").first.click()
    page.get_by_role("button", name="Save label").click()
    page.goto(f"{base}/items/{item.pk}/")
    page.get_by_label("…or a new golden set named").fill("Refunds")
    page.get_by_role("button", name="Promote as draft case").click()
    case = incident.cases.get()
    assert case.source == f"incident-{incident.pk}"

    # The lead moves it to holdout and publishes.
    page.goto(f"{base}/golden-sets/refunds/cases/{case.case_id}/")
    if case.split == "dev":
        page.get_by_role("button", name="Move to holdout").click()
    page.goto(f"{base}/golden-sets/refunds/")
    page.get_by_role("button", name="Publish new version").click()
    expect(page.locator("#versions")).to_contain_text("1")

    # CI reports: failing, then passing in holdout.
    ci = requests.Session()
    ci.headers["Authorization"] = "Bearer " + api_key_for(project, ["results:write"])
    url = f"{live_server.url}/api/v1/golden-sets/refunds/versions/1/results"
    for commit, passed in (("c1", False), ("c2", True)):
        response = ci.post(url, json={"commit": commit, "results": [
            {"case_id": case.case_id, "passed": passed}]})  # fmt: skip
        assert response.status_code == 201, response.text

    page.goto(f"{base}/incidents/{incident.pk}/")
    expect(page.locator("#incident-cases")).to_contain_text("passes in holdout")
    page.get_by_role("button", name="Close (needs eval proof)").click()
    expect(page.locator("#incident-status")).to_have_text("closed")
    postmortem = page.locator("#postmortem")
    expect(postmortem).to_contain_text(f"- {case.case_id}: passes in holdout")
    expect(postmortem).to_contain_text("Closed: every linked case passes in holdout.")
    # The title came from a complaint holding a <script>: shown as text, never run.
    expect(postmortem).to_contain_text("<script>window.__xss=1</script>")
    assert_no_script_ran(page)
    assert Incident.objects.get().status == "closed"
    shot(page, "incident-1440")

    phone = new_page(browser, width=390, height=844)
    log_in(phone, live_server, lead.username)
    for path in (f"incidents/{incident.pk}/", "incidents/", "eval-debt/"):
        phone.goto(f"{base}/{path}")
        assert overflow(phone) <= 0, path
    shot(phone, "incident-390")
