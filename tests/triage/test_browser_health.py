"""The health and overview pages in a real headless Chromium: charts render with their
values, at desktop width and on a 390 px phone without sideways scrolling.

Screenshots land in test-artifacts/ (gitignored) for a look.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from datasets.models import Case
from tests.factories import (
    GoldenSetFactory,
    MembershipFactory,
    health_traffic,
    queued_cluster,
    recent_base,
)
from triage import metrics

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def health_data(project):
    base = recent_base()
    health_traffic(project, base)
    metrics.metrics_rebuild(project=project, days=2)
    refunds = GoldenSetFactory(project=project, slug="refunds")
    item = queued_cluster(project, "wrong", base)
    Case.objects.create(
        golden_set=refunds, number=1, case_id="refunds-001", input={"q": "?"},
        source="thumbs-down", cluster=item.cluster, first_feedback_at=base,
    )  # fmt: skip
    return MembershipFactory(project=project, role="lead", user__username="lena").user


def _logged_in(browser, live_server, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("lena")
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/queue/")
    return page


def _no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_health_and_overview_pages_render_charts_with_values(
    browser, live_server, health_data, width, height
):
    page = _logged_in(browser, live_server, width, height)

    page.get_by_role("link", name="Health").click()
    expect(page.get_by_role("heading", name="Production health")).to_be_visible()
    success = page.locator("#chart-success")
    expect(success.get_by_role("img", name="Task success rate")).to_be_visible()
    expect(success.locator(".legend-value")).to_have_text(["66.7 %"])
    assert page.locator("figure.chart svg polyline, figure.chart svg circle").count() >= 6
    expect(page.locator("#h-p95")).to_have_text("4,000 ms")
    _no_sideways_scroll(page)
    _shot(page, f"health-{width}")

    page.get_by_role("link", name="Prompt hash").click()
    expect(page.locator("#chart-success .legend-label")).to_have_text(["p1", "p2"])
    expect(page.locator("#chart-success .legend-value")).to_have_text(["50.0 %", "100.0 %"])
    _no_sideways_scroll(page)
    _shot(page, f"health-by-prompt-{width}")

    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#chart-coverage .legend-label")).to_have_text(["refunds"])
    expect(page.locator("#o-cost")).to_have_text("$0.0225")
    _no_sideways_scroll(page)
    _shot(page, f"overview-{width}")
    page.context.close()
