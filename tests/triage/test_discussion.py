"""Comments on items: threaded one level, @mentions of project members, text escaped."""

from django.test import Client

from tests.factories import MembershipFactory, make_item
from triage import services
from triage.models import ItemComment


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_comments_thread_mention_members_and_show_mentions_on_the_queue(project, reviewer, lead):
    outsider = MembershipFactory(user__username="mallory").user  # another project's member
    item = make_item(project)
    rico = client_for(reviewer)
    url = f"/p/{project.slug}/items/{item.pk}/comments"

    response = rico.post(url, {"body": "@lena is this <b>known</b>? cc @mallory @nobody"})
    assert response["Location"].endswith(f"/items/{item.pk}/#discussion")
    first = ItemComment.objects.get()
    assert [u.username for u in first.mentioned.all()] == ["lena"]
    assert first.body.startswith("@lena is this <b>known</b>?")
    assert outsider not in first.mentioned.all()

    lena = client_for(lead)
    lena.post(url, {"body": "Yes, see last week.", "parent": str(first.pk)})
    reply = ItemComment.objects.exclude(pk=first.pk).get()
    rico.post(url, {"body": "Thanks", "parent": str(reply.pk)})  # joins the same thread
    assert ItemComment.objects.filter(parent=first).count() == 2

    page = rico.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    discussion = page.split('id="discussion"', 1)[1].split("</section>", 1)[0]
    assert '<strong class="mention">@lena</strong> is this &lt;b&gt;known&lt;/b&gt;?' in discussion
    assert "<b>known</b>" not in discussion
    assert discussion.index("Yes, see last week.") < discussion.index("Thanks")
    assert 'count-badge">1<' in discussion  # one thread

    queue = lena.get(f"/p/{project.slug}/queue/").content.decode()
    mentions = queue.split('id="mentions"', 1)[1].split("</div>", 1)[0]
    assert f"rico on #{item.pk}" in mentions
    assert 'id="mentions"' not in rico.get(f"/p/{project.slug}/queue/").content.decode()

    assert (
        rico.post(url, {"body": "   "}, follow=True)
        .content.decode()
        .count("Write something first.")
    )
    assert ItemComment.objects.count() == 3


def test_a_reply_to_another_items_comment_is_refused(project, reviewer):
    a, b = make_item(project), make_item(project)
    comment = services.item_comment_create(item=a, author=reviewer, body="hi", members=[reviewer])
    try:
        services.item_comment_create(
            item=b, author=reviewer, body="x", members=[reviewer], parent=comment
        )
    except ValueError as exc:
        assert "another item" in str(exc)
    else:
        raise AssertionError("a cross-item reply was accepted")


def test_a_labelled_p0_gets_a_second_review_with_agreement_shown(project, reviewer, lead):
    item = make_item(project, category="unsafe")  # a P0 category
    rico, lena = client_for(reviewer), client_for(lead)
    rico.post(f"/p/{project.slug}/items/{item.pk}/claim")
    rico.post(
        f"/p/{project.slug}/items/{item.pk}/label", {"version": "1", "decision": "add_to_eval"}
    )
    queue = lena.get(f"/p/{project.slug}/queue/?status=labelled").content.decode()
    assert "2nd review" in queue
    # Not by the first labeller.
    page = rico.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert 'id="second-review"' in page and 'id="second-review-form"' not in page
    refused = rico.post(
        f"/p/{project.slug}/items/{item.pk}/second-review", {"decision": "known_issue"}, follow=True
    )
    assert "you labelled this item" in refused.content.decode()

    response = lena.post(
        f"/p/{project.slug}/items/{item.pk}/second-review",
        {"decision": "known_issue", "note": "Same as the bleach one"},
        follow=True,
    )
    html = response.content.decode()
    assert "Second review saved: you differ from the first label." in html
    assert "<strong>lena</strong>: Known issue — differs from rico's Add to eval" in html
    review = item.second_reviews.get()
    assert (review.decision, review.first_decision, review.agrees) == (
        "known_issue",
        "add_to_eval",
        False,
    )
    assert 'id="second-review-form"' not in html  # once per reviewer
    queue = lena.get(f"/p/{project.slug}/queue/?status=labelled").content.decode()
    assert "2nd review" not in queue


def test_p1_items_get_no_second_review(project, reviewer, lead):
    item = make_item(project, category="wrong", status="labelled", decision="known_issue",
                     labelled_by=reviewer)  # fmt: skip
    page = client_for(lead).get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert 'id="second-review"' not in page
