"""Reviewer pages as plain form posts (htmx only speeds them up) and what a reviewer sees."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from datasets.models import Case, GoldenSet
from tests.factories import FeedbackEventFactory, MembershipFactory, make_item
from triage import selectors
from triage.models import FailureMode, QueueItem


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def item_ids(html):
    return [int(pk) for pk in re.findall(r'data-item="(\d+)"', html)]


@pytest.fixture(autouse=True)
def no_count_cache(settings):
    settings.TRIAGE_QUEUE_COUNTS_TTL = 0


def test_login_lands_on_the_users_project_queue(project, reviewer):
    client = Client()
    response = client.post(
        reverse("login"), {"username": "rico", "password": "pw-for-tests"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/p/{project.slug}/queue/"
    assert b"Annotation queue" in response.content


def test_anonymous_users_are_sent_to_login(project):
    response = Client().get(f"/p/{project.slug}/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_users_only_see_their_own_projects(project, other_project, reviewer):
    secret = make_item(other_project)
    client = client_for(reviewer)
    assert client.get(f"/p/{other_project.slug}/queue/").status_code == 404
    assert client.get(f"/p/{other_project.slug}/items/{secret.pk}/").status_code == 404
    # Nor through the wrong project's URL.
    assert client.get(f"/p/{project.slug}/items/{secret.pk}/").status_code == 404
    assert client.post(f"/p/{other_project.slug}/queue/claim").status_code == 404


def test_queue_filters_and_status_counts(project, reviewer, lead):
    a = make_item(project, category="billing", tier="enterprise", score=9)
    b = make_item(project, category="wrong", tier="free", score=8, model_id="claude-3")
    c = make_item(project, category="slow", tier="pro", score=7, status="claimed", claimed_by=lead)
    d = make_item(
        project, category="unsafe", score=6, status="labelled", labelled_by=reviewer,
        prompt_hash="ph-9",
    )  # fmt: skip
    client = client_for(reviewer)

    def ids(**query):
        query.setdefault("status", "all")
        response = client.get(f"/p/{project.slug}/queue/", query)
        assert response.status_code == 200
        return item_ids(response.content.decode())

    assert ids() == [a.pk, b.pk, c.pk, d.pk]
    assert item_ids(client.get(f"/p/{project.slug}/queue/").content.decode()) == [a.pk, b.pk]
    assert ids(status="pending") == [a.pk, b.pk]
    assert ids(category="wrong") == [b.pk]
    assert ids(severity="p0") == [a.pk, d.pk]
    assert ids(severity="p1") == [b.pk, c.pk]
    assert ids(tier="free") == [b.pk]
    assert ids(model="claude-3") == [b.pk]
    assert ids(model="gpt-4o") == [a.pk, c.pk, d.pk]  # a prefix: all of gpt-4o-mini
    assert ids(prompt_hash="ph-9") == [d.pk]
    assert ids(assignee=str(lead.pk)) == [c.pk]
    assert ids(assignee="me") == [d.pk]
    assert ids(category="not-a-category") == [a.pk, b.pk, c.pk, d.pk]  # ignored, not a 500
    html = client.get(f"/p/{project.slug}/queue/").content.decode()
    counts = dict(re.findall(r'data-status="(\w+)">(\d+)<', html))
    assert counts == {"pending": "2", "claimed": "1", "labelled": "1", "skipped": "0"}


def test_htmx_filters_refresh_counts_and_clear_link_and_say_when_nothing_matches(
    project, reviewer, lead
):
    make_item(project, category="billing", model_id="gpt-4o-mini")
    make_item(project, category="wrong", model_id="claude-3")
    make_item(project, category="wrong", status="labelled", labelled_by=lead)
    client = client_for(reviewer)
    html = client.get(f"/p/{project.slug}/queue/").content.decode()
    assert "Clear filters" not in html  # the default view: pending tab, no filters
    assert '<option value="claude-3">' in html and '<option value="gpt-4o-mini">' in html

    html = client.get(
        f"/p/{project.slug}/queue/", {"category": "wrong"}, headers={"HX-Request": "true"}
    ).content.decode()
    counts = dict(re.findall(r'data-status="(\w+)">(\d+)<', html))
    assert counts == {"pending": "1", "claimed": "0", "labelled": "1", "skipped": "0"}
    assert 'id="status-tabs" role="radiogroup" aria-label="Status" hx-swap-oob="true"' in html
    assert 'id="clear-filters"' in html

    html = client.get(
        f"/p/{project.slug}/queue/", {"category": "slow"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "No items match these filters." in html
    assert "Run the triage job" not in html and "triaged nightly" not in html


@pytest.mark.parametrize("sort", ["reports", "last_seen"])
def test_queue_sorts_by_reports_or_last_seen_across_keyset_pages(project, reviewer, sort):
    now = timezone.now()
    items = []
    for i in range(60):
        item = make_item(project, score=float(i))
        item.cluster.event_count = i % 5 + 1  # many ties: the id breaks them
        item.cluster.last_seen_at = now - timedelta(minutes=i % 7)
        item.cluster.save()
        items.append(item)
    client = client_for(reviewer)
    seen, url = [], f"/p/{project.slug}/queue/?sort={sort}"
    first = client.get(url).content.decode()
    assert 'aria-sort="descending"' in first or 'aria-current="true"' in first
    while url:
        html = client.get(url, headers={"HX-Request": "true"} if seen else {}).content.decode()
        seen += item_ids(html)
        nxt = re.search(r'id="load-more".*?href="([^"]+)"', html, re.S)
        url = f"/p/{project.slug}/queue/" + nxt.group(1).replace("&amp;", "&") if nxt else None
    if sort == "reports":
        key = lambda i: (-i.cluster.event_count, -i.pk)  # noqa: E731
    else:
        key = lambda i: (-i.cluster.last_seen_at.timestamp(), -i.pk)  # noqa: E731
    assert seen == [i.pk for i in sorted(items, key=key)]


def test_keyset_pages_cover_the_queue_once_and_htmx_gets_only_rows(project, reviewer):
    items = [make_item(project, score=float(i % 7)) for i in range(120)]  # many equal scores
    client = client_for(reviewer)
    seen, url, pages = [], f"/p/{project.slug}/queue/", 0
    while url:
        response = client.get(url, headers={"HX-Request": "true"} if pages else {})
        html = response.content.decode()
        seen += item_ids(html)
        pages += 1
        if pages > 1:
            assert "<html" not in html and "Annotation queue" not in html  # a partial
        nxt = re.search(r'id="load-more".*?href="([^"]+)"', html, re.S)
        url = f"/p/{project.slug}/queue/" + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert pages == 3
    expected = sorted(items, key=lambda i: (-i.score, -i.pk))
    assert seen == [i.pk for i in expected]


def test_htmx_filter_change_returns_the_results_partial(project, reviewer):
    make_item(project, category="billing")
    response = client_for(reviewer).get(
        f"/p/{project.slug}/queue/", {"category": "billing"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-results">')
    assert len(item_ids(html)) == 1


def test_claim_next_as_a_plain_post_leases_and_opens_the_item(project, reviewer):
    low, high = make_item(project, score=1), make_item(project, score=2)
    response = client_for(reviewer).post(f"/p/{project.slug}/queue/claim")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{project.slug}/items/{high.pk}/"
    high.refresh_from_db()
    assert (high.status, high.claimed_by) == ("claimed", reviewer)
    low.refresh_from_db()
    assert low.status == "pending"


def test_item_page_shows_summary_and_replay_with_hostile_text_escaped(project, reviewer):
    item = make_item(project)
    html = client_for(reviewer).get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    # Summary: count, tiers, models, prompt hash, SLA clock, score breakdown.
    assert 'class="stat-n">3<' in html
    assert "enterprise · 1" in html and "gpt-4o-mini · 1" in html and "ph-1 · 1" in html
    assert "left of 72 h SLA" in html and "62.0 h" in html
    assert "Why it ranks here" in html
    # Replay: prompt messages, retrieved documents, errors, tokens, cost.
    assert "Prompt sent to the model" in html and "Use only the documents." in html
    assert "Retrieved documents (1)" in html and "source: gift.md" in html
    assert "RateLimitError" in html and "412 + 31 tokens" in html and "$0.00008" in html
    # Hostile text is escaped; placeholders are highlighted.
    assert "<script>window.__xss" not in html and "&lt;script&gt;window.__xss=1" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<b>slow down</b>" not in html
    assert '<mark class="pii" title="scrubbed value">&lt;EMAIL_ADDRESS_1&gt;</mark>' in html


def test_label_as_a_plain_post_saves_and_releases(project, reviewer):
    FailureMode.objects.create(project=project, slug="stale_policy", label="Stale policy")
    item = make_item(project)
    client = client_for(reviewer)
    client.post(f"/p/{project.slug}/queue/claim")
    page = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "Stale policy" in page  # project-defined failure modes are offered
    assert "Add a failure mode" not in page  # only leads add new ones

    response = client.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {
            "version": "1",
            "decision": "add_to_eval",
            "failure_modes": ["retrieval_miss", "stale_policy"],
            "criteria": "Cites the gift card policy.",
            "expected_output": "Gift cards cannot be refunded.",
            "notes": "",
        },
    )

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "labelled" and item.claimed_by is None and item.version == 2
    assert item.failure_modes == ["retrieval_miss", "stale_policy"]
    assert item.expected_output == "Gift cards cannot be refunded."


def test_a_lead_can_add_a_project_failure_mode_while_labelling(project, lead):
    item = make_item(project)
    client = client_for(lead)
    client.post(f"/p/{project.slug}/items/{item.pk}/claim")
    response = client.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {"version": "1", "decision": "known_issue", "new_failure_mode": "Wrong currency"},
    )
    assert response.status_code == 302
    assert FailureMode.objects.get(project=project).slug == "wrong_currency"
    item.refresh_from_db()
    assert item.failure_modes == ["wrong_currency"]


def test_a_stale_label_is_refused_with_a_clear_message_and_not_saved(project, reviewer, lead):
    item = make_item(project)
    lead_client = client_for(lead)
    lead_client.post(f"/p/{project.slug}/items/{item.pk}/claim")
    lead_client.post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {"version": "1", "decision": "known_issue", "notes": "lead's call"},
    )

    response = client_for(reviewer).post(
        f"/p/{project.slug}/items/{item.pk}/label",
        {"version": "1", "decision": "expected_behaviour", "notes": "my late edit"},
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "lena changed this item" in html and "Not saved" in html
    assert "my late edit" in html  # the reviewer's input is kept in the form
    assert 'name="version" value="2"' in html  # re-saving is a deliberate second step
    item.refresh_from_db()
    assert (item.decision, item.notes, item.version) == ("known_issue", "lead's call", 2)


def test_invalid_label_is_a_400_naming_the_field(project, reviewer):
    item = make_item(project)
    response = client_for(reviewer).post(
        f"/p/{project.slug}/items/{item.pk}/label", {"version": "1", "decision": "maybe"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "pending"


def test_skip_and_heartbeat_as_plain_posts(project, reviewer):
    client = client_for(reviewer)
    item = make_item(project)
    client.post(f"/p/{project.slug}/queue/claim")
    QueueItem.objects.filter(pk=item.pk).update(lease_expires_at=timezone.now())

    beat = client.post(f"/p/{project.slug}/items/{item.pk}/heartbeat")
    assert "You hold this item" in beat.content.decode()
    item.refresh_from_db()
    assert item.lease_expires_at > timezone.now() + timedelta(minutes=10)

    assert client.post(f"/p/{project.slug}/items/{item.pk}/skip").status_code == 302
    item.refresh_from_db()
    assert (item.status, item.claimed_by) == ("skipped", None)
    lost = client.post(f"/p/{project.slug}/items/{item.pk}/heartbeat").content.decode()
    assert "Your lease expired" in lost


def test_promote_creates_a_draft_case_with_lineage(project, reviewer):
    item = make_item(project, status="labelled", decision="add_to_eval")
    response = client_for(reviewer).post(
        f"/p/{project.slug}/items/{item.pk}/promote",
        {
            "golden_set": "",
            "new_golden_set": "Refunds",
            "input": '{"question": "Refund for <PERSON_1>?"}',
            "expected": '{"output": "Gift cards cannot be refunded."}',
            "criteria": "Cites the policy.",
        },
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.golden_set == GoldenSet.objects.get(slug="refunds")
    assert case.input == {"question": "Refund for <PERSON_1>?"}
    assert case.expected == {"output": "Gift cards cannot be refunded."}
    assert (case.cluster, case.queue_item, case.trace_ids) == (item.cluster, item, ["t1"])
    assert case.first_published_at is None  # a draft until published
    assert case.source.startswith("thumbs-down-")


def test_promote_with_bad_json_is_a_400_naming_the_field(project, reviewer):
    item = make_item(project, status="labelled", decision="add_to_eval")
    response = client_for(reviewer).post(
        f"/p/{project.slug}/items/{item.pk}/promote",
        {"new_golden_set": "Refunds", "input": "{not json"},
    )
    assert response.status_code == 400
    assert "Not valid JSON" in response.content.decode()
    assert not Case.objects.exists()


def test_only_leads_publish_and_run_the_job(project, reviewer, lead):
    GoldenSet.objects.create(project=project, slug="refunds", name="Refunds")
    reviewer_client = client_for(reviewer)
    assert reviewer_client.post(f"/p/{project.slug}/golden-sets/refunds/publish").status_code == 403
    assert reviewer_client.post(f"/p/{project.slug}/queue/run").status_code == 403
    page = reviewer_client.get(f"/p/{project.slug}/golden-sets/refunds/").content.decode()
    assert "Publish new version" not in page
    lead_page = client_for(lead).get(f"/p/{project.slug}/golden-sets/refunds/").content.decode()
    assert "Publish new version" in lead_page


def test_weekly_view_groups_this_weeks_labels_by_decision_and_owner(project, reviewer, lead):
    now = timezone.now()
    make_item(project, status="labelled", decision="add_to_eval", labelled_by=reviewer,
              labelled_at=now)  # fmt: skip
    make_item(project, status="labelled", decision="add_to_eval", labelled_by=lead,
              labelled_at=now)  # fmt: skip
    make_item(project, status="labelled", decision="known_issue", labelled_by=lead,
              labelled_at=now - timedelta(days=30))  # fmt: skip
    html = client_for(reviewer).get(f"/p/{project.slug}/weekly/").content.decode()
    section = html.split("decision-add_to_eval", 1)[1].split("</section>", 1)[0]
    assert 'count-badge">2<' in section
    assert "lena · 1" in section and "rico · 1" in section
    assert "3 reports" in section and "3 report " not in section
    known = html.split("decision-known_issue", 1)[1].split("</section>", 1)[0]
    assert "Nothing this week." in known  # last month's label is not on this week's agenda


def test_a_second_project_member_sees_the_project_switcher(project, other_project, reviewer):
    MembershipFactory(project=other_project, user=reviewer)
    html = client_for(reviewer).get(f"/p/{project.slug}/queue/").content.decode()
    assert f'href="/p/{other_project.slug}/queue/"' in html


@pytest.mark.django_db
def test_queue_and_item_explain_the_score_in_words(project, reviewer):
    from triage.job import triage_job_execute

    for _ in range(3):
        FeedbackEventFactory(
            project=project,
            category="billing",
            customer_tier="enterprise",
            comment="charged twice for one order",
            created_at=timezone.now() - timedelta(hours=21),
        )
    triage_job_execute(project=project)
    client = Client()
    client.force_login(reviewer)
    queue = client.get(f"/p/{project.slug}/queue/").content.decode()
    assert "3 reports × enterprise × P0, 51 h to SLA" in queue
    item = QueueItem.objects.get(project=project)
    page = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "Why it ranks here: 3 reports × enterprise × P0, 51 h to SLA" in page
    assert "Severity is a floor: every P0 ranks above every P1" in page
    assert "log2(1 + 3) = 2.00 × tier enterprise" in page and "+ 1000 for P0" in page


def test_an_item_someone_holds_is_read_only_for_others_and_a_lead_may_take_it_over(
    project, reviewer, lead
):
    item = make_item(project)
    other = client_for(MembershipFactory(project=project, user__username="otto").user)
    rico = client_for(reviewer)
    assert rico.post(f"/p/{project.slug}/items/{item.pk}/claim").status_code == 302
    url = f"/p/{project.slug}/items/{item.pk}/"

    page = other.get(url).content.decode()
    assert "Read-only: <strong>rico</strong> is reviewing this item" in page
    assert '<fieldset class="label-fields" disabled>' in page
    assert "Take over" not in page and "Claim this item" not in page

    response = other.post(f"{url}label", {"version": "1", "decision": "known_issue"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "rico is reviewing this item right now" in html
    assert "This item changed after you opened it" not in html  # one message, not two
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.decision) == ("claimed", reviewer, "")

    lena = client_for(lead)
    assert "Take over" in lena.get(url).content.decode()
    assert other.post(f"{url}take-over").status_code == 403  # leads only
    response = lena.post(f"{url}take-over", follow=True)
    assert "You took over this item from rico." in response.content.decode()
    item.refresh_from_db()
    assert item.claimed_by == lead
    assert "Read-only: <strong>lena</strong> is reviewing" in rico.get(url).content.decode()


def test_a_pending_item_is_read_only_until_claimed(project, reviewer):
    item = make_item(project)
    client = client_for(reviewer)
    url = f"/p/{project.slug}/items/{item.pk}/"
    page = client.get(url).content.decode()
    assert "Read-only until you claim this item." in page and "Claim this item" in page

    response = client.post(f"{url}label", {"version": "1", "decision": "known_issue"})
    assert response.status_code == 409
    assert "claim this item before labelling it" in response.content.decode()
    item.refresh_from_db()
    assert (item.status, item.decision) == ("pending", "")

    client.post(f"{url}claim")
    page = client.get(url).content.decode()
    assert "Read-only" not in page and '<fieldset class="label-fields">' in page
    assert "You hold this item" in page


def test_an_expired_lease_no_longer_shows_as_claimed(project, reviewer, lead):
    item = make_item(
        project, status="claimed", claimed_by=lead, lease_expires_at=timezone.now() - timedelta(1)
    )
    page = client_for(reviewer).get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert '<span class="status s-pending">pending</span>' in page
    assert "is reviewing" not in page and "Claim this item" in page


def test_queue_and_weekly_do_not_show_a_run_out_lease_as_claimed(project, reviewer, lead):
    item = make_item(
        project, status="claimed", claimed_by=lead, lease_expires_at=timezone.now() - timedelta(1)
    )
    client = client_for(reviewer)
    queue = client.get(f"/p/{project.slug}/queue/?status=all").content.decode()
    row = queue.split(f'data-item="{item.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="status s-pending">pending</span>' in row and "lease ran out" in row
    weekly = client.get(f"/p/{project.slug}/weekly/").content.decode()
    assert "Nobody is reviewing right now." in weekly


def test_item_page_is_never_stored_so_back_shows_the_current_lease(project, reviewer):
    item = make_item(project)
    response = client_for(reviewer).get(f"/p/{project.slug}/items/{item.pk}/")
    assert response["Cache-Control"] == "no-store"


def test_save_and_next_labels_then_opens_the_next_claimed_item(project, reviewer):
    low, high = make_item(project, score=1), make_item(project, score=2)
    client = client_for(reviewer)
    client.post(f"/p/{project.slug}/queue/claim")
    response = client.post(
        f"/p/{project.slug}/items/{high.pk}/label",
        {"version": "1", "decision": "known_issue", "next": "1"},
    )
    assert response["Location"] == f"/p/{project.slug}/items/{low.pk}/"
    high.refresh_from_db()
    low.refresh_from_db()
    assert (high.status, low.status, low.claimed_by) == ("labelled", "claimed", reviewer)


def test_item_page_wording_plurals_and_just_now(project, reviewer):
    item = make_item(project)
    item.cluster.event_count = 1
    item.cluster.last_seen_at = timezone.now()
    item.cluster.save()
    html = client_for(reviewer).get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert 'class="stat-l">report<' in html and "1 reports" not in html
    assert "(just now)" in html and "0 minutes ago" not in html


def test_queue_shows_each_reviewers_progress_today_and_this_week(project, reviewer, lead):
    now = timezone.now()
    monday = timezone.localtime(now).replace(hour=0, minute=0) - timedelta(
        days=timezone.localtime(now).weekday()
    )
    for when in (now, now, monday + timedelta(minutes=1), now - timedelta(days=8)):
        make_item(project, status="labelled", labelled_by=reviewer, labelled_at=when)
    make_item(project, status="labelled", labelled_by=lead, labelled_at=now)
    html = client_for(reviewer).get(f"/p/{project.slug}/queue/").content.decode()
    progress = html.split('id="progress"', 1)[1].split("</p>", 1)[0]
    mine_today = 3 if timezone.localtime(now).weekday() == 0 else 2
    assert f"you: {mine_today} today · 3 this week" in progress
    assert "lena: 1 today · 1 this week" in progress


def test_leads_act_on_ticked_items_and_leave_held_or_labelled_ones_alone(project, reviewer, lead):
    free, other, held = make_item(project, score=3), make_item(project, score=2), make_item(project)
    done = make_item(project, status="labelled", decision="expected_behaviour", labelled_by=lead)
    client_for(reviewer).post(f"/p/{project.slug}/items/{held.pk}/claim")
    lena = client_for(lead)
    assert 'id="bulk-form"' in lena.get(f"/p/{project.slug}/queue/").content.decode()
    assert (
        'id="bulk-form"'
        not in client_for(reviewer).get(f"/p/{project.slug}/queue/").content.decode()
    )

    ids = [free.pk, held.pk, done.pk]
    response = lena.post(
        f"/p/{project.slug}/queue/bulk",
        {"items": ids, "action": "known_issue", "next": "?status=all"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/p/{project.slug}/queue/?status=all"
    assert "1 item marked known issue. 2 left alone" in response.content.decode()
    free.refresh_from_db()
    held.refresh_from_db()
    done.refresh_from_db()
    assert (free.status, free.decision, free.labelled_by, free.version) == (
        "labelled", "known_issue", lead, 2,
    )  # fmt: skip
    assert free.cluster.status == "known_issue"
    assert (held.status, held.claimed_by, held.decision) == ("claimed", reviewer, "")
    assert done.decision == "expected_behaviour"

    lena.post(
        f"/p/{project.slug}/queue/bulk",
        {"items": [other.pk], "action": "assign", "member": str(reviewer.pk)},
    )
    other.refresh_from_db()
    assert (other.status, other.claimed_by) == ("claimed", reviewer)
    assert other.lease_expires_at > timezone.now() + timedelta(hours=23)
    lena.post(f"/p/{project.slug}/queue/bulk", {"items": [held.pk, other.pk], "action": "skip"})
    assert QueueItem.objects.get(pk=other.pk).status == "claimed"  # held (assigned): left

    response = client_for(reviewer).post(
        f"/p/{project.slug}/queue/bulk", {"items": [other.pk], "action": "skip"}
    )
    assert response.status_code == 403


def test_a_trace_without_runs_says_so(project, reviewer):
    item = make_item(project)
    item.scrubbed = {**item.scrubbed, "traces": [{"trace_id": "t9", "runs": []}]}
    item.save()
    html = client_for(reviewer).get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "The trace arrived without runs" in html
    assert "This trace has no runs yet" in html


# A narrow filter is counted from one read of its items' statuses; past FEW_ITEMS matches,
# with a capped count per tab. Both show the same tabs.
@pytest.mark.parametrize("few_items", [2000, 3])
def test_filtered_status_counts_stop_at_the_cap(
    project, reviewer, settings, monkeypatch, few_items
):
    monkeypatch.setattr(selectors, "FEW_ITEMS", few_items)
    settings.TRIAGE_QUEUE_TAB_COUNT_CAP = 2
    for _ in range(3):
        make_item(project, category="billing")
    make_item(project, category="billing", status="skipped")
    make_item(project, category="wrong")
    client = client_for(reviewer)

    html = client.get(f"/p/{project.slug}/queue/", {"category": "billing"}).content.decode()
    assert 'data-status="pending">2+<' in html and 'data-status="skipped">1<' in html
    assert 'data-status="labelled">0<' in html
    # Unfiltered counts stay exact (cached briefly instead).
    html = client.get(f"/p/{project.slug}/queue/").content.decode()
    assert 'data-status="pending">4<' in html
