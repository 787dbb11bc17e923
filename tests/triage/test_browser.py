"""The reviewer workspace in a real headless Chromium (Debian's), against a live server.

Screenshots of the queue and item pages land in test-artifacts/ (gitignored) for a look.
"""

import pytest
from playwright.sync_api import expect

from datasets.models import Case, GoldenSetVersion
from tests.browser import XSS_NAME, assert_no_script_ran, hostile_queue, log_in, new_page, shot
from tests.factories import MembershipFactory
from triage.models import QueueItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_loop_claim_replay_label_promote_publish(browser, live_server, project, settings):
    settings.TRIAGE_LEASE_SECONDS = 15  # heartbeat every 5 s, so the test can watch one
    settings.TRIAGE_QUEUE_COUNTS_TTL = 0
    MembershipFactory(project=project, role="reviewer", user__username="rico")
    MembershipFactory(project=project, role="lead", user__username="lena")
    items = hostile_queue(project)
    page = new_page(browser)

    # Log in, see the queue (hostile comment shown as text), take a screenshot.
    log_in(page, live_server, "rico")
    first_row = page.locator("tr.row").first
    expect(first_row).to_contain_text("<script>window.__xss=1</script>")
    expect(page.locator("tr.row")).to_have_count(len(items))
    shot(page, "queue")

    # Filters are htmx swaps: the page does not reload, the rows change.
    page.evaluate("window.__marker = 'same page'")
    page.get_by_label("Category").select_option("wrong")
    expect(page.locator("tr.row")).to_have_count(2)
    assert page.evaluate("window.__marker") == "same page"
    assert "category=wrong" in page.url
    # Bug 5: the swap refreshes the tab counts and shows "Clear filters".
    expect(page.locator("#clear-filters")).to_be_visible()
    expect(page.locator('.count[data-status="pending"]')).to_have_text("2")
    page.get_by_label("Category").select_option("")
    expect(page.locator("tr.row")).to_have_count(len(items))
    expect(page.locator("#clear-filters")).to_have_count(0)

    # j/k select rows; ? opens the shortcut overlay.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("tr.row.sel")).to_have_attribute("data-item", str(items[1].pk))
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    # c claims the best item and opens it.
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[0].pk}/")
    expect(page.locator(".lease-chip")).to_contain_text("You hold this item")
    with page.expect_response(lambda r: r.url.endswith("/heartbeat"), timeout=12_000) as beat:
        pass
    assert beat.value.status == 200

    # The replay: the prompt, retrieved documents and the error, all as text.
    replay = page.locator("#replay")
    expect(replay).to_contain_text("Prompt sent to the model")
    expect(replay).to_contain_text("Use only the documents.")
    expect(replay).to_contain_text('<img src=x onerror="window.__xss=2">')
    expect(replay).to_contain_text("RateLimitError: <b>slow down</b>")
    expect(replay).to_contain_text(XSS_NAME)
    root = page.locator("details.run").first
    expect(root).not_to_have_attribute("open", "")
    expect(root.locator(".io")).to_be_hidden()
    root.locator("summary").click()  # the run tree is collapsible
    expect(root.locator(".io")).to_contain_text("Refund for <PERSON_1>?")
    expect(page.locator("mark.pii").first).to_be_visible()
    assert_no_script_ran(page)
    shot(page, "item")

    # A draft survives a reload.
    page.get_by_label("Pass/fail criteria").fill("Must say gift cards are not refundable.")
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("1")
    page.reload()
    expect(page.get_by_label("Pass/fail criteria")).to_have_value(
        "Must say gift cards are not refundable."
    )
    expect(page.locator(".draft-note")).to_be_visible()
    expect(page.locator("#label-form input[value=add_to_eval]")).to_be_checked()

    # Label with the keyboard-chosen decision and a failure mode.
    page.get_by_label("retrieval miss").check()
    page.get_by_role("button", name="Save label").click()
    expect(page.locator(".msg.success")).to_contain_text("Label saved.")
    item = QueueItem.objects.get(pk=items[0].pk)
    assert (item.status, item.decision, item.failure_modes) == (
        "labelled",
        "add_to_eval",
        ["retrieval_miss"],
    )
    assert item.criteria == "Must say gift cards are not refundable."
    assert (
        page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('triage:draft'))") == []
    )

    # p jumps to promote; create a golden set and promote the edited scrubbed input.
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("p")
    expect(page.locator("#promote-form select[name=golden_set]")).to_be_focused()
    page.get_by_label("…or a new golden set named").fill("Refunds")
    page.get_by_label("Input (scrubbed)").fill('{"question": "Can I refund a gift card?"}')
    page.get_by_label("Expected output").last.fill('{"output": "Gift cards are not refundable."}')
    page.get_by_role("button", name="Promote as draft case").click()
    expect(page.locator(".msg.success")).to_contain_text("Promoted as refunds-001")
    case = Case.objects.get()
    assert case.input == {"question": "Can I refund a gift card?"}
    assert case.queue_item_id == items[0].pk and case.first_published_at is None

    # A reviewer cannot publish; the lead can.
    expect(page.get_by_role("button", name="Publish new version")).to_have_count(0)
    lead = new_page(browser)
    log_in(lead, live_server, "lena")
    lead.goto(f"{live_server.url}/p/{project.slug}/golden-sets/refunds/")
    lead.get_by_label("Tag").fill("prod")
    lead.get_by_role("button", name="Publish new version").click()
    expect(lead.locator(".msg.success")).to_contain_text("Published version 1")
    version = GoldenSetVersion.objects.get()
    assert (version.number, version.tags, version.case_count) == (1, ["prod"], 1)
    shot(lead, "golden_set")

    # The weekly triage view lists this week's decision under its owner.
    page.goto(f"{live_server.url}/p/{project.slug}/weekly/")
    expect(page.locator(".decision-add_to_eval")).to_contain_text("rico · 1")
    shot(page, "weekly")
    assert_no_script_ran(page)
    lead.context.close()
    page.context.close()


def test_two_reviewers_in_two_browsers_never_get_the_same_item(browser, live_server, project):
    MembershipFactory(project=project, user__username="ana")
    MembershipFactory(project=project, user__username="bo")
    items = hostile_queue(project, n=6)
    pages = [new_page(browser), new_page(browser)]
    log_in(pages[0], live_server, "ana")
    log_in(pages[1], live_server, "bo")

    held = []
    for _ in range(3):
        for page in pages:
            page.goto(f"{live_server.url}/p/{project.slug}/queue/")
        # Both press "claim" at (nearly) the same moment; the server sees two racing posts.
        for page in pages:
            page.evaluate("setTimeout(() => document.getElementById('claim-form').requestSubmit())")
        for page in pages:
            page.wait_for_url("**/items/*/")
        ids = [int(page.url.rstrip("/").rsplit("/", 1)[1]) for page in pages]
        assert ids[0] != ids[1]
        held.append(ids)
        for page in pages:  # label (2 = known issue) so the next claim moves on
            page.locator("body").click(position={"x": 5, "y": 300})
            page.keyboard.press("2")
            page.get_by_role("button", name="Save label").click()
            expect(page.locator(".msg.success")).to_contain_text("Label saved.")

    claimed = [pk for pair in held for pk in pair]
    assert len(set(claimed)) == 6
    labelled = QueueItem.objects.filter(status="labelled")
    assert sorted(labelled.values_list("pk", flat=True)) == sorted(i.pk for i in items)
    by = dict(labelled.values_list("pk", "labelled_by__username"))
    assert {by[a] for a, _ in held} == {"ana"} and {by[b] for _, b in held} == {"bo"}
    for page in pages:
        assert_no_script_ran(page)
        page.context.close()
