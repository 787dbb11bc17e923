"""Helpers for the Playwright tests: a page per reviewer, logging in, screenshots.

Screenshots land in test-artifacts/ (gitignored) for a look.
"""

import os
from pathlib import Path

from playwright.sync_api import expect

from tests.factories import make_item, scrubbed_view

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "pw-for-tests"
XSS_NAME = '<svg onload="window.__xss=3">agent'


def new_page(browser, width=1360, height=900):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    return page


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Annotation queue")).to_be_visible()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_no_script_ran(page):
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []


def hostile_queue(project, n=6):
    """Items whose comments, documents, errors and run names carry live-looking HTML."""
    comments = [
        "<script>window.__xss=1</script> The refund bot told <PERSON_1> gift cards are refundable",
        "Asked about shipping to <LOCATION_1>, got the returns policy instead",
        "It said my order <ID_1> does not exist but it shipped yesterday",
        "Refused to cancel my subscription, looped back to the FAQ",
        "Made up a 30% discount code that does not work",
        "Answer cut off half-way through the steps",
    ]
    categories = ["billing", "wrong", "wrong", "unhelpful", "unsafe", "slow"]
    items = []
    for i in range(n):
        view = scrubbed_view(comment=comments[i % len(comments)])
        view["traces"][0]["runs"][0]["name"] = XSS_NAME
        items.append(
            make_item(
                project,
                category=categories[i % len(categories)],
                tier=["enterprise", "pro", "free"][i % 3],
                score=20.0 - i * 2.5,
                scrubbed=view,
            )
        )
    return items


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def overflow(page):
    """How far the page scrolls sideways (0 when it fits the viewport)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
