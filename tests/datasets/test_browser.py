"""A lead curates a golden set on a 390 px phone screen in headless Chromium: retire a
case, edit another, publish with notes, read the diff; no page scrolls sideways."""

import os

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from datasets.models import Case, GoldenSetVersion
from tests.factories import CaseFactory, GoldenSetFactory, queued_cluster

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WIDTH = 390


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def assert_fits(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        f"""[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > {WIDTH} + 1)
        .map(e => e.tagName + '.' + e.className).slice(0, 8)"""
    )
    assert width <= WIDTH, f"{page.url} is {width}px wide on a {WIDTH}px screen: {wide}"


def test_a_lead_curates_and_publishes_on_a_phone(browser, live_server, project, lead):
    golden_set = GoldenSetFactory(project=project, slug="refunds", name="Refunds")
    item = queued_cluster(project, "billing", timezone.now())
    long_text = "a-very-long-unbroken-identifier-" * 8
    first = CaseFactory(golden_set=golden_set, queue_item=item, cluster=item.cluster)
    second = CaseFactory(golden_set=golden_set, criteria=long_text)
    from datasets.services import golden_set_version_publish

    golden_set_version_publish(golden_set=golden_set, user=lead, notes="Initial cases")

    page = browser.new_context(viewport={"width": WIDTH, "height": 844}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(lead.username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Log in").click()

    base = f"{live_server.url}/p/{project.slug}/golden-sets/refunds"
    page.goto(f"{base}/")
    expect(page.get_by_text("Initial cases")).to_be_visible()
    assert_fits(page)

    page.goto(f"{base}/cases/{second.case_id}/")
    assert_fits(page)
    page.get_by_role("button", name="Retire").click()
    expect(page.get_by_text(f"Retired {second.case_id}")).to_be_visible()

    page.goto(f"{base}/cases/{first.case_id}/")
    page.get_by_label("Criteria").fill("Quotes the 30-day policy.")
    page.get_by_role("button", name="Save revision").click()
    expect(page.get_by_text("Saved revision 2")).to_be_visible()
    assert_fits(page)

    page.goto(f"{base}/")
    page.get_by_label("Release notes").fill("Retire a flaky case; sharper criteria")
    page.get_by_role("button", name="Publish new version").click()
    expect(page.get_by_text("Published version 2")).to_be_visible()
    assert_fits(page)

    page.get_by_role("button", name="Show diff").click()
    expect(page.get_by_text("0 added · 1 removed · 1 changed")).to_be_visible()
    assert_fits(page)

    assert Case.objects.get(pk=second.pk).status == "retired"
    assert GoldenSetVersion.objects.get(number=2).case_count == 1
