"""The reviewer pages under the Content-Security-Policy, in a real headless Chromium: nothing
is blocked, server-computed sizes still apply, and htmx still swaps, polls and posts."""

import pytest
from playwright.sync_api import expect

from tests.browser import hostile_queue, log_in, new_page
from tests.factories import MembershipFactory
from triage.models import QueueItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Injected by the browser itself (not a page script, so the policy does not apply to it).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def watched_page(browser):
    page = new_page(browser)
    page.set_default_timeout(30_000)  # a shared, busy machine; nothing here is timed
    page.add_init_script(LISTEN)
    page.csp_console = []
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.csp_console.append(m.text),
    )
    page.on("pageerror", lambda e: page.csp_console.append(f"page error: {e}"))
    return page


def assert_nothing_blocked(page, where):
    assert page.evaluate("window.__csp") == [], where
    assert page.csp_console == [], where
    # htmx was told not to inject its indicator styles; nothing else may either.
    assert page.evaluate("document.querySelectorAll('style').length") == 0, where


def test_reviewer_pages_run_under_the_policy_and_htmx_still_works(
    browser, live_server, project, settings
):
    settings.TRIAGE_LEASE_SECONDS = 15  # heartbeat (an htmx post) every 5 s
    settings.TRIAGE_QUEUE_COUNTS_TTL = 0
    MembershipFactory(project=project, role="lead", user__username="lena")
    items = hostile_queue(project)
    page = watched_page(browser)
    base = f"{live_server.url}/p/{project.slug}"

    log_in(page, live_server, "lena")
    assert (
        "frame-ancestors 'none'"
        in page.request.get(f"{base}/queue/").headers["content-security-policy"]
    )
    assert_nothing_blocked(page, "queue")

    # A filter is an htmx swap: same page, fewer rows.
    page.evaluate("window.__marker = 'same page'")
    page.get_by_label("Category").select_option("wrong")
    expect(page.locator("tr.row")).to_have_count(2)
    assert page.evaluate("window.__marker") == "same page"
    assert_nothing_blocked(page, "queue filtered")

    # Claim (keyboard, static JS) → item page; the heartbeat is an htmx post with the CSRF
    # header from hx-headers.
    page.get_by_label("Category").select_option("")
    expect(page.locator("tr.row")).to_have_count(len(items))
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[0].pk}/")
    with page.expect_response(lambda r: r.url.endswith("/heartbeat"), timeout=12_000) as beat:
        pass
    assert beat.value.status == 200
    # Sizes that used to be style attributes are applied from data-style by our script.
    run = page.locator("details.run").first
    assert run.evaluate("el => el.style.getPropertyValue('--depth')").strip() == "0"
    bar = page.locator("details.run .bar").first
    assert bar.evaluate("el => el.style.width").endswith("%")
    assert bar.evaluate("el => el.getBoundingClientRect().width") > 0
    assert_nothing_blocked(page, "item")

    # A label is a plain form post (form-action 'self').
    page.get_by_label("Pass/fail criteria").fill("Must say gift cards are not refundable.")
    page.locator("#label-form input[value=add_to_eval]").check()
    page.get_by_role("button", name="Save label").click()
    expect(page.locator(".msg.success")).to_contain_text("Label saved.")
    assert QueueItem.objects.get(pk=items[0].pk).status == "labelled"
    assert_nothing_blocked(page, "item labelled")

    for path in ("weekly/", "golden-sets/", "time-to-eval/", "incidents/", "health/",
                 "overview/", "rubric/"):  # fmt: skip
        page.goto(f"{base}/{path}")
        expect(page.locator("main h1").first).to_be_visible()
        assert_nothing_blocked(page, path)
    page.context.close()


def test_admin_and_api_docs_run_under_their_policies(browser, live_server, db):
    page = watched_page(browser)
    page.goto(f"{live_server.url}/admin/login/")
    expect(page.get_by_text("Django administration")).to_be_visible()
    assert page.evaluate("window.__csp") == [] and page.csp_console == []

    page = watched_page(browser)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator("#swagger-ui .info .title")).to_contain_text("Triage API")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible()
    assert page.evaluate("window.__csp") == [] and page.csp_console == []
