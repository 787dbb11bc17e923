"""The health and overview pages in a real headless Chromium: charts render with their
values, at desktop width and on a 390 px phone without sideways scrolling.

Screenshots land in test-artifacts/ (gitignored) for a look.
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from datasets.models import Case
from tests.factories import (
    FeedbackEventFactory,
    GoldenSetFactory,
    MembershipFactory,
    RunFactory,
    health_traffic,
    queued_cluster,
    recent_base,
)
from triage import metrics
from triage.models import Alert

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


def _history(project, base, days=6):
    """A week of earlier traffic so the charts draw lines: p2 slowly gets worse."""
    for day in range(1, days + 1):
        for prompt, n in (("p1", 6), ("p2", 4)):
            for i in range(n):
                trace = f"h{day}-{prompt}-{i}"
                at = base - timedelta(days=day, minutes=i)
                slow = 800 + 150 * i + (400 * (days - day) if prompt == "p2" else 0)
                RunFactory(
                    project=project, run_id=trace, trace_id=trace, start_time=at,
                    end_time=at + timedelta(milliseconds=slow), outputs={"answer": "ok"},
                    metadata={"prompt_hash": prompt}, total_cost=Decimal("0.004"),
                )  # fmt: skip
                bad = prompt == "p2" and i < (days - day) % 3 + 1
                FeedbackEventFactory(project=project, trace_id=trace,
                                     rating="down" if bad else "up")  # fmt: skip


@pytest.fixture
def health_data(project):
    base = recent_base()
    health_traffic(project, base)
    _history(project, base)
    metrics.metrics_rebuild(project=project, days=8)
    Alert.objects.create(
        project=project, rule="thumbs_down_spike", key="p2", status="resolved",
        summary="thumbs down on 40.0% of prompt p2's traces in the last 60 min (limit 10.0%)",
        value=0.4, threshold=0.1, fired_at=base - timedelta(days=2),
        resolved_at=base - timedelta(days=2) + timedelta(hours=3),
        last_evaluated_at=base, context={"trace_url": "https://traces.example.com/t/h2-p2-0",
                                         "model_id": "gpt-4o"},
    )  # fmt: skip
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


def _nav(page, name):
    """Follow a top-bar link; on a phone the nav is folded behind its Menu button."""
    toggle = page.locator("[data-nav-toggle]")
    if toggle.is_visible():
        toggle.click()
    page.locator("#main-nav").get_by_role("link", name=name).click()


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_health_and_overview_pages_render_charts_with_values(
    browser, live_server, health_data, width, height
):
    page = _logged_in(browser, live_server, width, height)

    _nav(page, "Health")
    expect(page.get_by_role("heading", name="Production health")).to_be_visible()
    success = page.locator("#chart-success")
    expect(success.get_by_role("img", name="Task success rate")).to_be_visible()
    expect(success.locator(".legend-value")).to_have_text(["66.7 %"])
    assert page.locator("figure.chart svg polyline, figure.chart svg circle").count() >= 6
    expect(page.locator("#h-p95")).to_have_text("4,000 ms")
    expect(page.locator("#alerts")).to_contain_text("Thumbs-down spike for one prompt p2")
    expect(page.locator("#alerts .resolved")).to_have_text("resolved")
    _no_sideways_scroll(page)
    _shot(page, f"health-{width}")

    page.get_by_role("link", name="Prompt hash").click()
    expect(page.locator("#chart-success .legend-label")).to_have_text(["p1", "p2"])
    expect(page.locator("#chart-success .legend-value")).to_have_text(["50.0 %", "100.0 %"])
    _no_sideways_scroll(page)
    _shot(page, f"health-by-prompt-{width}")

    _nav(page, "Overview")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#chart-coverage .legend-label")).to_have_text(["refunds"])
    expect(page.locator("#o-cost")).to_have_text("$0.0225")
    _no_sideways_scroll(page)
    _shot(page, f"overview-{width}")
    page.context.close()
