"""The reviewer's daily loop in Chromium: keyboard only, two reviewers on one item, Back."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser import hostile_queue, log_in, new_page, overflow, shot
from tests.factories import MembershipFactory
from triage.models import QueueItem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Counts real (trusted) pointer events in sessionStorage, which survives navigations.
COUNT_MOUSE = """
for (const kind of ["mousedown", "mouseup", "click", "pointerdown"]) {
  window.addEventListener(kind, e => {
    if (e.isTrusted) sessionStorage.mouse = String(Number(sessionStorage.mouse || 0) + 1);
  }, true);
}
"""


def test_keyboard_loop_labels_three_items_without_a_mouse(browser, live_server, project):
    MembershipFactory(project=project, user__username="rico")
    items = hostile_queue(project, n=3)  # scores descending: claimed in this order
    page = new_page(browser, width=1440, height=900)
    log_in(page, live_server, "rico")
    page.context.add_init_script(COUNT_MOUSE)
    page.reload()
    page.evaluate("sessionStorage.mouse = '0'")

    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[0].pk}/")
    decisions = page.locator("#label-form input[name=decision]")
    # Bug 1: after a decision key the focused radio must not swallow the next shortcuts.
    page.keyboard.press("1")
    expect(decisions.nth(0)).to_be_checked()
    expect(decisions.nth(0)).to_be_focused()
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("save the label and open the next item")
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    expect(decisions.nth(2)).to_be_checked()

    plan = [(items[0], "3", "expected_behaviour"), (items[1], "4", "needs_product_decision")]
    plan.append((items[2], "1", "add_to_eval"))
    for n, (item, key, _) in enumerate(plan):
        page.wait_for_url(f"**/items/{item.pk}/")
        expect(page.locator(".lease-chip")).to_contain_text("You hold this item")
        page.keyboard.press(key)
        page.keyboard.press("e")
        expect(page.locator("#label-form textarea[name=criteria]")).to_be_focused()
        page.keyboard.type(f"Must cite the policy, case {n}")
        page.keyboard.press("Control+Enter")

    # After the third, nothing is left to claim: back on the queue.
    expect(page.locator(".msg.info")).to_contain_text("The queue is empty")
    assert page.evaluate("sessionStorage.mouse") == "0"
    for n, (item, _, decision) in enumerate(plan):
        item.refresh_from_db()
        assert (item.status, item.decision, item.labelled_by.username) == (
            "labelled",
            decision,
            "rico",
        )
        assert item.criteria == f"Must cite the policy, case {n}"
    page.context.close()


def test_two_reviewers_a_held_item_is_read_only_and_a_lead_takes_it_over(
    browser, live_server, project, settings
):
    settings.TRIAGE_LEASE_SECONDS = 15  # heartbeat every 5 s
    MembershipFactory(project=project, role="reviewer", user__username="rico")
    MembershipFactory(project=project, role="reviewer", user__username="otto")
    MembershipFactory(project=project, role="lead", user__username="lena")
    (item,) = hostile_queue(project, n=1)
    url = f"{live_server.url}/p/{project.slug}/items/{item.pk}/"
    rico, otto, lena = (new_page(browser) for _ in range(3))
    for page, name in ((rico, "rico"), (otto, "otto"), (lena, "lena")):
        log_in(page, live_server, name)

    rico.keyboard.press("c")
    rico.wait_for_url(url)
    otto.goto(url)
    expect(otto.locator(".read-only")).to_contain_text("rico is reviewing this item")
    expect(otto.locator("#label-form input[name=decision]").first).to_be_disabled()
    expect(otto.get_by_role("button", name="Save label")).to_be_disabled()
    expect(otto.get_by_role("button", name="Take over")).to_have_count(0)
    otto.keyboard.press("1")  # shortcuts do not tick a disabled form
    expect(otto.locator("#label-form input[name=decision]").first).not_to_be_checked()

    lena.goto(url)
    lena.get_by_role("button", name="Take over").click()
    expect(lena.locator(".msg.success")).to_contain_text("You took over this item from rico.")
    expect(lena.locator(".lease-chip")).to_contain_text("You hold this item")
    # Rico's page learns it on the next heartbeat.
    expect(rico.locator("#lease")).to_contain_text("lena took over this item", timeout=12_000)
    item.refresh_from_db()
    assert (item.status, item.claimed_by.username) == ("claimed", "lena")
    for page in (rico, otto, lena):
        page.context.close()


def test_back_after_skip_shows_the_current_lease_and_the_waterfall_has_colours(
    browser, live_server, project
):
    MembershipFactory(project=project, user__username="rico")
    items = hostile_queue(project, n=2)
    page = new_page(browser)
    log_in(page, live_server, "rico")
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[0].pk}/")

    # Bug 3: every run type's bar is drawn in its own colour, chain runs included.
    colours = page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('.run')].map(r => [
             r.querySelector('.rt').textContent,
             getComputedStyle(r.querySelector('.bar')).backgroundColor]))"""
    )
    track = page.evaluate("getComputedStyle(document.querySelector('.bar-track')).backgroundColor")
    assert colours["chain"] == "rgb(152, 162, 179)"
    assert colours["retriever"] == "rgb(11, 165, 236)"
    assert track not in colours.values()

    page.keyboard.press("s")
    expect(page.locator(".msg.info")).to_contain_text("Skipped")
    assert QueueItem.objects.get(pk=items[0].pk).status == "skipped"
    page.go_back()
    page.wait_for_url(f"**/items/{items[0].pk}/")
    expect(page.locator(".status").first).to_have_text("skipped")
    expect(page.locator(".lease-chip")).to_have_count(0)
    expect(page.get_by_role("button", name="Claim this item")).to_be_visible()

    # On an item nobody holds, c claims this one (opened from the queue with j/k, Enter).
    page.keyboard.press("c")
    expect(page.locator(".lease-chip")).to_contain_text("You hold this item")
    assert QueueItem.objects.get(pk=items[0].pk).status == "claimed"
    page.keyboard.press("s")
    expect(page.locator(".msg.info")).to_contain_text("Skipped")

    # Claim, skip, claim hands out the next item, not the skipped one.
    page.goto(f"{live_server.url}/p/{project.slug}/queue/")
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[1].pk}/")
    page.context.close()


def test_trace_first_at_1440_and_no_sideways_scroll_at_390(browser, live_server, project):
    from datasets.models import GoldenSet

    MembershipFactory(project=project, role="lead", user__username="lena")
    items = hostile_queue(project, n=3)
    bare = items[2]
    bare.scrubbed = {**bare.scrubbed, "traces": []}
    bare.save()
    GoldenSet.objects.create(project=project, slug="refunds", name="Refunds")
    base = f"{live_server.url}/p/{project.slug}"

    # 1440×900: question, final answer and documents on the first screen, beside the form.
    page = new_page(browser, width=1440, height=900)
    log_in(page, live_server, "lena")
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{items[0].pk}/")
    evidence = page.locator("#evidence")
    expect(evidence).to_contain_text("Refund for <PERSON_1>?")  # the question
    expect(evidence.locator("pre.answer")).to_have_text("No.")  # the root's final answer
    expect(evidence).to_contain_text('<img src=x onerror="window.__xss=2">')  # a document
    for part in (evidence.locator("pre.answer"), evidence.locator(".docs li").first):
        box = part.bounding_box()
        assert box["y"] + box["height"] <= 900
    label = page.locator("#label-card").bounding_box()
    assert label["x"] > evidence.bounding_box()["x"] + 400 and label["y"] < 300
    # A completion is text (role + content), not a JSON dump.
    llm = page.locator("details.rt-llm .io")
    expect(llm).to_contain_text("assistant")
    expect(llm).not_to_contain_text('"content":')
    shot(page, "item-1440")
    page.goto(f"{base}/items/{bare.pk}/")
    expect(page.locator("#evidence")).to_contain_text("No trace received for these reports yet")
    page.context.close()

    # 390 px: collapsed nav, queue cards, the item stacked (trace, then form).
    phone = new_page(browser, width=390, height=844)
    log_in(phone, live_server, "lena")
    for path in (
        "/queue/",
        f"/items/{items[1].pk}/",
        "/weekly/",
        "/golden-sets/",
        "/time-to-eval/",
    ):
        phone.goto(base + path)
        assert overflow(phone) <= 0, path
        shot(phone, "390-" + path.strip("/").replace("/", "-"))
    phone.goto(base + "/queue/")
    expect(phone.locator("#main-nav")).to_be_hidden()
    phone.get_by_role("button", name="Menu").click()
    expect(phone.get_by_role("link", name="Weekly triage")).to_be_visible()
    row = phone.locator("tr.row").first.bounding_box()
    assert row["width"] <= 390 and phone.locator(".queue thead").is_hidden()
    phone.goto(f"{base}/items/{items[1].pk}/")
    assert (
        phone.locator("#evidence").bounding_box()["y"]
        < phone.locator("#replay").bounding_box()["y"]
        < phone.locator("#label-card").bounding_box()["y"]
    )
    phone.context.close()


def test_rubric_configured_then_used_then_exported(browser, live_server, project):
    MembershipFactory(project=project, role="lead", user__username="lena")
    (item,) = hostile_queue(project, n=1)
    page = new_page(browser)
    log_in(page, live_server, "lena")
    page.get_by_role("link", name="Label form").click()
    page.get_by_label("Name").fill("Harm")
    page.get_by_label("Kind").select_option("categorical")
    page.get_by_label("Choices").fill("none, minor, severe")
    page.get_by_label("Instructions").fill("How bad could acting on the answer be?")
    page.get_by_role("button", name="Add to the label form").click()
    expect(page.locator(".msg.success")).to_contain_text("Added “Harm” to the label form.")

    page.goto(f"{live_server.url}/p/{project.slug}/queue/")
    page.keyboard.press("c")
    page.wait_for_url(f"**/items/{item.pk}/")
    expect(page.locator("#label-form")).to_contain_text("How bad could acting on the answer be?")
    page.keyboard.press("2")
    page.get_by_label("Harm").select_option("severe")
    page.get_by_role("button", name="Save label").click()
    expect(page.locator(".msg.success")).to_contain_text("Label saved.")
    item.refresh_from_db()
    assert item.scores == {"harm": "severe"}

    export = page.request.get(f"{live_server.url}/p/{project.slug}/labels.jsonl")
    row = json.loads(export.text().splitlines()[0])
    assert (row["item_id"], row["decision"], row["scores"]) == (
        item.pk,
        "known_issue",
        {"harm": "severe"},
    )
    page.context.close()
