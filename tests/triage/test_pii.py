"""PII scrubbing: recognizers, placeholders, the encrypted mapping, reveal, logs, recall."""

import logging

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import AuditEntry
from bench.pii_eval import PATTERNED, evaluate, make_corpus
from config.log_filters import ScrubPiiFilter, scrub_line
from feedback.services import user_id_pseudonymize
from tests.factories import FeedbackEventFactory, MembershipFactory, RunFactory
from triage.models import Cluster, PiiMapping, QueueItem
from triage.pii import analysis, credentials, encryption
from triage.pii.placeholders import Placeholders, rescrub_texts, scrub_json, scrub_texts
from triage.scrubbing import queue_item_scrub

SECRETS = [
    "sk-proj-Abc123def456ghi789jkl012mno345",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjAA",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "xoxb-12345678901-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
]


def _scrub(*texts):
    placeholders = Placeholders()
    return scrub_texts(list(texts), placeholders), placeholders


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_tokens_are_replaced_whole(secret):
    (out,), _ = _scrub(f"my key is {secret}, still 401.")
    assert out == "my key is <SECRET_1>, still 401."


@pytest.mark.parametrize(
    ("text", "value", "placeholder"),
    [
        (
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG",
            "<SECRET_1>",
        ),
        (
            "Authorization: Bearer abc.def-ghi_jklmnopqrstu",
            "abc.def-ghi_jklmnopqrstu",
            "<SECRET_1>",
        ),
        ('config {"api_key": "zz9-ABCDEF-123456"}', "zz9-ABCDEF-123456", "<SECRET_1>"),
        ("password: hunter22", "hunter22", "<PASSWORD_1>"),
        ("postgres://app:s3cr3tpw@db.internal/app", "s3cr3tpw", "<SECRET_1>"),
    ],
)
def test_key_value_secrets_keep_the_key_name_and_hide_the_value(text, value, placeholder):
    spans = credentials.find_secrets(text)
    assert spans, text
    (out,), _ = _scrub(text)
    assert value not in out and placeholder in out


def test_detect_secrets_plugins_are_loaded_without_entropy_ones():
    names = {name for name, _, _ in credentials.rules()}
    assert {"AWSKeyDetector", "StripeDetector", "PrivateKeyDetector", "KeywordDetector"} <= names
    assert not any("Entropy" in name for name in names)
    assert "IPPublicDetector" not in names


def test_same_person_gets_one_placeholder_across_fields_and_possessives():
    (a, b, c), placeholders = _scrub(
        "I booked John Smith's flight yesterday.",
        "John Smith never got the email from anna.berg@example.com.",
        "Please ask Maria Garcia, not JOHN SMITH. Mr. Smith is upset.",
    )
    assert a == "I booked <PERSON_1>'s flight yesterday."
    assert b == "<PERSON_1> never got the email from <EMAIL_ADDRESS_1>."
    assert "<PERSON_2>" in c and "<PERSON_1>" in c and "Smith" not in c
    assert placeholders.originals["<PERSON_1>"] == "John Smith"
    assert placeholders.originals["<PERSON_2>"] == "Maria Garcia"


def test_numbering_runs_left_to_right():
    (out,), _ = _scrub(
        "Call Anna Berg at +44 20 7946 0958 or Peter Olsen at +1 415-555-0134, "
        "or mail anna@example.org."
    )
    assert out == (
        "Call <PERSON_1> at <PHONE_NUMBER_1> or <PERSON_2> at <PHONE_NUMBER_2>, "
        "or mail <EMAIL_ADDRESS_1>."
    )


def test_lowercase_names_and_distractor_words():
    (named, plain), _ = _scrub(
        "hi its franz-peter becker, the answer was useless",
        "please mark the answer as wrong, my bill amount is off and grant access fails",
    )
    assert named == "hi its <PERSON_1>, the answer was useless"
    assert plain == "please mark the answer as wrong, my bill amount is off and grant access fails"


def test_capitalised_common_words_opening_a_sentence_are_not_people_or_places():
    texts = [
        "Gift cards cannot be refunded.",  # the demo's retrieved policy: not <PERSON_2> cards
        "Ship it today. Gift wrap costs extra.",
        "Returns are free. Bill me later please.",
        "Refunds are processed weekly.",
        "config:\nretries: 3",
    ]
    out, placeholders = _scrub(*texts)
    assert out == texts
    assert placeholders.originals == {}


def test_names_opening_a_sentence_are_still_people():
    (out,), _ = _scrub("Jordan said the export failed. Maria Gonzalez agreed. Gonzalez left.")
    assert out == "<PERSON_1> said the export failed. <PERSON_2> agreed. <PERSON_2> left."


def test_places_in_running_text_come_from_the_gazetteer():
    (a, b, c, d), _ = _scrub(
        "I'm in Trieste and the bot quoted the wrong fee.",
        "ship it to Rimini please",
        "Flying from Trinidad and Tobago to Cologne, and our Madrid office is closed.",
        "I moved to Catanzaro, Italy last year.",
    )
    assert a == "I'm in <LOCATION_1> and the bot quoted the wrong fee."
    assert b == "ship it to <LOCATION_2> please"
    # Countries are COUNTRY, not personal data by default (TRIAGE_PII_ENTITIES): kept whole.
    assert (
        c
        == "Flying from Trinidad and Tobago to <LOCATION_3>, and our <LOCATION_4> office is closed."
    )
    assert d == "I moved to <LOCATION_5>, Italy last year."


def test_city_names_that_are_ordinary_words_stay():
    texts = [
        "Nice work on the new dashboard, but the totals are off.",
        "Reading the docs did not help.",
        "Mobile checkout fails on older phones.",
        "Split payments are supported for orders over $100.",
        "Bath products cannot be returned once opened.",
        "Will this work on Windows 11 with version 3.2.1?",
        "I contacted support via email 3 times.",
    ]
    out, _ = _scrub(*texts)
    assert out == texts


@pytest.mark.parametrize(
    "address",
    [
        "6234 Patrick Trafficway Suite 319, West Brianbury",
        "Flat 23\nSmith Green",
        "Stretto Muratori, 246 Appartamento 19",
        "Alameda de Raúl Gimenez 69 Puerta 0 , Huelva",
        "92, avenue de Allain, Picardnec",
        "Leni-Scheel-Weg 95-79, Schongau",
        "Larasingel 2, Capelle aan den IJssel",
    ],
)
def test_street_addresses_in_several_formats_are_masked_whole(address):
    (out,), _ = _scrub(f"Ship it to {address} please.")
    assert out == "Ship it to <LOCATION_1> please."


def test_chat_json_every_leaf_is_scrubbed_with_shared_placeholders():
    value = {
        "messages": [
            {"role": "user", "content": "I'm Lena Fischer, card 4111 1111 1111 1111"},
            {"role": "assistant", "content": "Thanks Lena Fischer."},
        ],
        "metadata": {"user": {"email": "lena@example.de", "ip": "203.0.113.7"}},
    }
    (out,) = scrub_json([value], Placeholders())
    assert out["messages"][0]["content"] == "I'm <PERSON_1>, card <CREDIT_CARD_1>"
    assert out["messages"][1]["content"] == "Thanks <PERSON_1>."
    assert out["metadata"]["user"] == {"email": "<EMAIL_ADDRESS_1>", "ip": "<IP_ADDRESS_1>"}
    assert value["messages"][0]["content"].startswith("I'm Lena")  # the input is untouched


def test_rescrub_keeps_placeholders_maps_pasted_originals_and_numbers_new_values():
    placeholders = Placeholders.from_originals(
        {"<PERSON_1>": "Maria Gonzalez", "<EMAIL_ADDRESS_1>": "maria@example.com"}
    )
    (out,) = rescrub_texts(
        ["For <PERSON_1>: MARIA GONZALEZ (maria@example.com) and Peter Olsen. <PERSON_7> stays."],
        placeholders,
    )
    # <PERSON_7> is written in the text without a mapping: its number is not reused.
    assert out == "For <PERSON_1>: <PERSON_1> (<EMAIL_ADDRESS_1>) and <PERSON_8>. <PERSON_7> stays."
    assert placeholders.added() == {"<PERSON_8>": "Peter Olsen"}


def test_analysis_is_cached_by_content_hash(monkeypatch):
    text = "Unique text for the cache test: Olga Petrova, olga.petrova@example.net"
    first = analysis.analyze_texts([text])
    calls = []
    monkeypatch.setattr(analysis, "_analyze_uncached", lambda texts: calls.append(texts) or [])
    assert analysis.analyze_texts([text, text]) == [first[0], first[0]]
    assert calls == []


# --- the queue item: one placeholder set per case, encrypted originals -------------------


def _item_with_pii(project):
    cluster = Cluster.objects.create(project=project, fingerprint="pii", event_count=2)
    FeedbackEventFactory(
        project=project,
        cluster=cluster,
        trace_id="t-pii",
        comment="Wrong refund! I'm Maria Gonzalez, maria.gonzalez@example.com",
    )
    FeedbackEventFactory(
        project=project, cluster=cluster, trace_id="t-pii", comment="Maria Gonzalez again."
    )
    RunFactory(
        project=project,
        run_id="t-pii",
        trace_id="t-pii",
        name="refund_bot",
        inputs={"messages": [{"role": "user", "content": "Refund Maria Gonzalez, 536-22-1234"}]},
        outputs={"answer": "Sent to maria.gonzalez@example.com"},
        error="KeyError: 'maria.gonzalez@example.com'",
    )
    return QueueItem.objects.create(project=project, cluster=cluster)


@pytest.mark.django_db
def test_queue_item_scrub_shares_placeholders_across_events_and_traces(project):
    item = queue_item_scrub(item=_item_with_pii(project))
    comments = [c["text"] for c in item.scrubbed["comments"]]
    assert comments == [
        "Wrong refund! I'm <PERSON_1>, <EMAIL_ADDRESS_1>",
        "<PERSON_1> again.",
    ]
    (run,) = item.scrubbed["traces"][0]["runs"]
    assert run["inputs"]["messages"][0]["content"] == "Refund <PERSON_1>, <US_SSN_1>"
    assert run["outputs"] == {"answer": "Sent to <EMAIL_ADDRESS_1>"}
    assert run["error"] == "KeyError: '<EMAIL_ADDRESS_1>'"
    mappings = {m.placeholder: m for m in PiiMapping.objects.filter(queue_item=item)}
    assert set(mappings) == {"<PERSON_1>", "<EMAIL_ADDRESS_1>", "<US_SSN_1>"}
    stored = bytes(mappings["<PERSON_1>"].original_encrypted)
    assert b"Maria" not in stored and encryption.decrypt(stored) == "Maria Gonzalez"


@pytest.mark.django_db
def test_a_rescrub_keeps_every_placeholder_already_in_use(project):
    """The cluster grew: reviewers and promoted cases keep the numbers they already have."""
    from triage.scrubbing import pii_rescrub

    item = queue_item_scrub(item=_item_with_pii(project))
    # A promotion numbered a value the reviewer pasted in: <PERSON_2>.
    (promoted,) = pii_rescrub(item=item, values=["Ask John Carter, not Maria Gonzalez"])
    assert promoted == "Ask <PERSON_2>, not <PERSON_1>"
    FeedbackEventFactory(
        project=project,
        cluster=item.cluster,
        trace_id="t-pii",
        comment="Priya Raman here, maria.gonzalez@example.com never answered",
    )

    item = queue_item_scrub(item=item)

    assert (
        item.scrubbed["comments"][2]["text"] == "<PERSON_3> here, <EMAIL_ADDRESS_1> never answered"
    )
    originals = {
        m.placeholder: encryption.decrypt(bytes(m.original_encrypted))
        for m in PiiMapping.objects.filter(queue_item=item)
    }
    assert originals == {
        "<PERSON_1>": "Maria Gonzalez",
        "<PERSON_2>": "John Carter",
        "<PERSON_3>": "Priya Raman",
        "<EMAIL_ADDRESS_1>": "maria.gonzalez@example.com",
        "<US_SSN_1>": "536-22-1234",
    }


@pytest.mark.django_db
def test_label_text_is_scrubbed_with_the_items_placeholders(project, reviewer):
    from triage.services import queue_item_claim, queue_item_label

    item = queue_item_scrub(item=_item_with_pii(project))
    queue_item_claim(item=item, user=reviewer)

    item = queue_item_label(
        item=item,
        user=reviewer,
        version=item.version,
        decision="add_to_eval",
        criteria="Must not email maria.gonzalez@example.com",
        expected_output="Dear Maria Gonzalez, your refund is on its way.",
        notes="Customer called from +1 415-555-0134",
    )

    assert item.criteria == "Must not email <EMAIL_ADDRESS_1>"
    assert item.expected_output == "Dear <PERSON_1>, your refund is on its way."
    assert item.notes == "Customer called from <PHONE_NUMBER_1>"
    phone = PiiMapping.objects.get(queue_item=item, placeholder="<PHONE_NUMBER_1>")
    assert encryption.decrypt(bytes(phone.original_encrypted)) == "+1 415-555-0134"


@pytest.mark.django_db
def test_user_ids_are_stored_as_keyed_hashes(project, api):
    response = api.post(
        "/api/v1/feedback",
        {"id": "fb-u", "rating": "down", "comment": "meh", "user_id": "alice@example.com"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    from feedback.models import FeedbackEvent

    event = FeedbackEvent.objects.get(client_id="fb-u")
    assert "alice" not in event.user_hash and len(event.user_hash) == 64
    assert event.user_hash == user_id_pseudonymize(project=project, user_id="alice@example.com")
    assert "alice@example.com" not in str(FeedbackEvent.objects.filter(pk=event.pk).values()[0])


# --- reveal ------------------------------------------------------------------------------


def _grant_reveal(user):
    user.user_permissions.add(Permission.objects.get(codename="reveal_pii"))


@pytest.mark.django_db
def test_reviewer_without_permission_sees_no_reveal_control_and_gets_403(project, reviewer):
    item = queue_item_scrub(item=_item_with_pii(project))
    browser = Client()
    browser.force_login(reviewer)
    page = browser.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert '<mark class="pii"' in page and "&lt;PERSON_1&gt;" in page
    assert "pii-reveal" not in page.replace('id="pii-reveal-form"', "")
    response = browser.post(f"/p/{project.slug}/items/{item.pk}/pii/PERSON_1")
    assert response.status_code == 403
    assert b"Maria" not in response.content
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()


@pytest.mark.django_db
def test_reveal_swaps_in_the_original_and_writes_an_audit_row(project, lead):
    item = queue_item_scrub(item=_item_with_pii(project))
    _grant_reveal(lead)
    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    url = f"/p/{project.slug}/items/{item.pk}/pii/PERSON_1"
    assert f'hx-post="{url}"' in page and f'formaction="{url}"' in page
    assert "Maria Gonzalez" not in page

    response = browser.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().strip().startswith('<mark class="pii revealed"')
    assert "Maria Gonzalez" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    plain = browser.post(url)  # the no-JS fallback renders a whole page
    assert (
        plain.status_code == 200
        and b"<html" in plain.content
        and b"Maria Gonzalez" in plain.content
    )

    audits = list(AuditEntry.objects.filter(action="pii.reveal").order_by("pk"))
    assert [(a.actor_user, a.target_id, a.details, a.project_id) for a in audits] == [
        (lead, str(item.pk), {"placeholder": "<PERSON_1>"}, project.pk),
        (lead, str(item.pk), {"placeholder": "<PERSON_1>"}, project.pk),
    ]
    assert all(a.at and a.ip == "127.0.0.1" for a in audits)
    assert browser.post(f"/p/{project.slug}/items/{item.pk}/pii/PERSON_9").status_code == 404
    assert browser.get(url).status_code == 405


@pytest.mark.django_db
def test_reveal_is_scoped_to_the_users_projects(project, other_project):
    item = queue_item_scrub(item=_item_with_pii(project))
    outsider = MembershipFactory(project=other_project, user__username="olaf").user
    _grant_reveal(outsider)
    browser = Client()
    browser.force_login(outsider)
    assert browser.post(f"/p/{project.slug}/items/{item.pk}/pii/PERSON_1").status_code == 404
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()


@pytest.mark.django_db
def test_reveal_depends_on_the_role_in_the_items_project(project, other_project):
    """A lead of B holding the (global) reveal permission is only a reviewer in A."""
    item_a = queue_item_scrub(item=_item_with_pii(project))
    cluster_b = Cluster.objects.create(project=other_project, fingerprint="b", event_count=1)
    FeedbackEventFactory(
        project=other_project, cluster=cluster_b, comment="I'm Maria Gonzalez, call me."
    )
    item_b = queue_item_scrub(
        item=QueueItem.objects.create(project=other_project, cluster=cluster_b)
    )
    lena = MembershipFactory(project=other_project, role="lead", user__username="lena").user
    MembershipFactory(project=project, role="reviewer", user=lena)
    _grant_reveal(lena)
    browser = Client()
    browser.force_login(lena)

    # In A (reviewer): the placeholder is highlighted but no reveal control, and a forged
    # post is refused without revealing or auditing anything.
    page = browser.get(f"/p/{project.slug}/items/{item_a.pk}/").content.decode()
    assert '<mark class="pii"' in page and "&lt;PERSON_1&gt;" in page
    assert "pii-reveal" not in page.replace('id="pii-reveal-form"', "")
    refused = browser.post(
        f"/p/{project.slug}/items/{item_a.pk}/pii/PERSON_1", headers={"HX-Request": "true"}
    )
    assert refused.status_code == 403
    assert b"Maria" not in refused.content and b"Gonzalez" not in refused.content
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()

    # In B (lead): the control is there and the reveal works, audited.
    url = f"/p/{other_project.slug}/items/{item_b.pk}/pii/PERSON_1"
    page = browser.get(f"/p/{other_project.slug}/items/{item_b.pk}/").content.decode()
    assert f'hx-post="{url}"' in page
    revealed = browser.post(url, headers={"HX-Request": "true"})
    assert revealed.status_code == 200 and b"Maria Gonzalez" in revealed.content
    reveals = AuditEntry.objects.filter(action="pii.reveal")
    assert list(reveals.values_list("target_id", "actor_user_id", "project_id")) == [
        (str(item_b.pk), lena.pk, other_project.pk)
    ]


@pytest.mark.django_db
def test_a_superuser_reveals_only_where_their_role_allows(project):
    item = queue_item_scrub(item=_item_with_pii(project))
    root = MembershipFactory(project=project, role="reviewer", user__username="root").user
    root.is_superuser = True
    root.save()
    browser = Client()
    browser.force_login(root)
    url = f"/p/{project.slug}/items/{item.pk}/pii/PERSON_1"
    assert browser.post(url).status_code == 403
    root.memberships.update(role="admin")
    assert b"Maria Gonzalez" in browser.post(url).content


# --- logs --------------------------------------------------------------------------------


def test_log_filter_scrubs_message_args_and_tracebacks():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "failed for %s from %s with %s", None, None
    )
    record.args = ("bob@example.com", "203.0.113.9", "sk-proj-Abc123def456ghi789jkl012")
    try:
        raise ValueError("card 4111 1111 1111 1111 rejected, call +1 415-555-0134")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert ScrubPiiFilter().filter(record) is True
    text = logging.Formatter().format(record)
    for value in ("bob@example.com", "203.0.113.9", "sk-proj", "4111 1111", "555-0134"):
        assert value not in text
    assert "<EMAIL_ADDRESS>" in text and "<CREDIT_CARD>" in text
    assert scrub_line("job done in 2026-11-20 10:00:01, 3 items") == (
        "job done in 2026-11-20 10:00:01, 3 items"
    )


# --- recall on a fixed-seed generated corpus (bench/pii_eval.py) ---------------------------


def test_recall_floors_on_a_fixed_seed_corpus():
    report = evaluate(make_corpus(600, seed=2024), analysis.analyze_texts)
    failures = []
    for entity_type, floor in [*((t, 0.99) for t in PATTERNED), ("PERSON", 0.90), ("SECRET", 0.95)]:
        row = report[entity_type]
        assert row["gold"] >= 20, f"corpus too small for {entity_type}"
        if row["masked_recall"] < floor:
            failures.append((entity_type, row["masked_recall"], row["misses"]))
    assert not failures
    assert report["PERSON"]["typed_recall"] >= 0.90
    # 0.978 before sentence-initial common words ("Gift cards …") stopped being people.
    assert report["PERSON"]["precision"] >= 0.985
    # 0.56 masked / 0.93 precision before the gazetteer and the wider address patterns.
    assert report["LOCATION"]["masked_recall"] >= 0.90
    assert report["LOCATION"]["precision"] >= 0.97
    # Issue 14: dates of birth (0.46 masked, 0 typed before), passwords in words (0.36 / 0),
    # SSNs typed as phones (0.93 typed), greetings and acronyms (0.64 kept) and countries
    # (0 kept: all were LOCATION) before the recognizers and span fixes.
    for entity_type in ("DATE_OF_BIRTH", "PASSWORD"):
        assert report[entity_type]["masked_recall"] >= 0.95, report[entity_type]["misses"]
    assert report["US_SSN"]["typed_recall"] >= 0.99
    assert report["KEEP"]["kept"] >= 0.95, report["KEEP"]["misses"]
    assert report["COUNTRY"]["kept"] >= 0.9, report["COUNTRY"]["misses"]
