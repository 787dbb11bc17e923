"""What counts as personal data: dates of birth, passwords, SSNs vs phones, where a name
starts, placeholder numbering, and the entity-type setting (countries, acronyms)."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from config.log_filters import scrub_line
from tests.factories import FeedbackEventFactory, ProjectFactory
from triage.models import Cluster, PiiMapping, QueueItem
from triage.pii import encryption
from triage.pii.analysis import _resolve
from triage.pii.placeholders import Placeholders, scrub_texts
from triage.scrubbing import queue_item_scrub


def _scrub(*texts, entities=None):
    placeholders = Placeholders()
    return scrub_texts(list(texts), placeholders, entities), placeholders


# --- misses: dates of birth and passwords -------------------------------------------------


def test_a_date_of_birth_after_a_cue_is_scrubbed():
    (out,), placeholders = _scrub("I was born on 12/03/1985 and the bot got my age wrong.")
    assert out == "I was born on <DATE_OF_BIRTH_1> and the bot got my age wrong."
    assert placeholders.originals == {"<DATE_OF_BIRTH_1>": "12/03/1985"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DOB: 1985-03-12", "DOB: <DATE_OF_BIRTH_1>"),
        (
            "date of birth 7th of June 1990, please fix",
            "date of birth <DATE_OF_BIRTH_1>, please fix",
        ),
        ("my birthday is March 12, 1985.", "my birthday is <DATE_OF_BIRTH_1>."),
        # Not a date of birth: no cue, or only the year (kept, as HIPAA's Safe Harbor does).
        ("ordered on 12/03/2024, still not here", "ordered on 12/03/2024, still not here"),
        ("born in 1985, the age check failed", "born in 1985, the age check failed"),
    ],
)
def test_dates_of_birth_need_a_cue_and_more_than_a_year(text, expected):
    (out,), _ = _scrub(text)
    assert out == expected


def test_a_password_given_in_words_is_scrubbed():
    (out, plain), placeholders = _scrub(
        "my password is Hunter2!Secret and the bot repeated it",
        "my password is wrong and the reset link is broken",
    )
    assert out == "my password is <PASSWORD_1> and the bot repeated it"
    assert plain == "my password is wrong and the reset link is broken"
    assert placeholders.originals == {"<PASSWORD_1>": "Hunter2!Secret"}


def test_the_log_filter_hides_a_password_given_in_words():
    assert scrub_line("login failed: my password is Hunter2!Secret") == (
        "login failed: my password is <SECRET>"
    )


# --- over-scrubbing: greetings, SSNs, acronyms, countries ------------------------------------


@pytest.mark.parametrize("greeting", ["Sorry", "Thanks", "Hi", "Dear", "Hello"])
def test_a_greeting_before_a_name_stays_and_the_person_keeps_their_number(greeting):
    (out,), placeholders = _scrub(
        f"Hi, I'm Maria Gonzalez. {greeting} Maria Gonzalez, refunds are impossible."
    )
    assert out == f"Hi, I'm <PERSON_1>. {greeting} <PERSON_1>, refunds are impossible."
    assert placeholders.originals == {"<PERSON_1>": "Maria Gonzalez"}


def test_sorry_before_a_name_is_not_part_of_the_placeholder():
    (out,), _ = _scrub("Sorry Maria Gonzalez, refunds are impossible.")
    assert out == "Sorry <PERSON_1>, refunds are impossible."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SSN: 078-05-1120.", "SSN: <US_SSN_1>."),  # a sample SSN Presidio rejects
        ("My SSN is 123-45-6789", "My SSN is <US_SSN_1>"),
        (
            "my social security number 536-22-1234 leaked",
            "my social security number <US_SSN_1> leaked",
        ),
    ],
)
def test_an_ssn_is_typed_ssn_not_phone_number(text, expected):
    (out,), _ = _scrub(text)
    assert out == expected


def test_on_the_same_digits_ssn_and_date_of_birth_beat_a_phone_number_whatever_the_score():
    assert _resolve([(5, 16, "PHONE_NUMBER", 0.9), (5, 16, "US_SSN", 0.5)]) == [(5, 16, "US_SSN")]
    assert _resolve([(5, 15, "DATE_OF_BIRTH", 0.4), (5, 15, "PHONE_NUMBER", 0.75)]) == [
        (5, 15, "DATE_OF_BIRTH")
    ]
    # A longer phone number still wins: no digit of it may stay in clear.
    assert _resolve([(0, 15, "PHONE_NUMBER", 0.4), (4, 15, "US_SSN", 0.85)]) == [
        (0, 15, "PHONE_NUMBER")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "I asked Invoice VAT for order 48213.",
        "the invoice Vat line is missing",
        "Ask HR about the refund policy.",
        "Customer ID missing from the PDF.",
    ],
)
def test_acronyms_and_business_words_are_not_people(text):
    (out,), placeholders = _scrub(text)
    assert out == text
    assert placeholders.originals == {}


def test_countries_are_kept_by_default_and_scrubbed_when_the_setting_lists_them(settings):
    text = "We ship to Canada and Malawi, the bot said we don't. Ship it to Rimini please."
    (kept,), _ = _scrub(text)
    assert (
        kept
        == "We ship to Canada and Malawi, the bot said we don't. Ship it to <LOCATION_1> please."
    )

    settings.TRIAGE_PII_ENTITIES = [*settings.TRIAGE_PII_ENTITIES, "COUNTRY"]
    (scrubbed,), placeholders = _scrub(text)
    assert scrubbed == (
        "We ship to <COUNTRY_1> and <COUNTRY_2>, the bot said we don't. "
        "Ship it to <LOCATION_1> please."
    )
    assert placeholders.originals["<COUNTRY_1>"] == "Canada"

    # A caller's own list (a project's) wins over the setting: here only names count.
    (names_only,), _ = _scrub("Maria Gonzalez ships to Canada", entities=["PERSON"])
    assert names_only == "<PERSON_1> ships to Canada"


def test_an_unknown_type_in_the_setting_stops_startup():
    env = {
        **os.environ,
        "TRIAGE_PII_ENTITIES": "PERSON,NAMES",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TRIAGE_PII_ENTITIES: unknown types ['NAMES']" in result.stderr


# --- numbering --------------------------------------------------------------------------


def test_placeholders_are_numbered_by_first_appearance_one_number_per_person():
    (first, second), placeholders = _scrub(
        "Smith called first. Then Anna Berg wrote, and John Smith answered Anna Berg.",
        "Sorry Anna Berg, Mr. Smith and Peter Olsen are on it.",
    )
    assert (
        first
        == "<PERSON_1> called first. Then <PERSON_2> wrote, and <PERSON_1> answered <PERSON_2>."
    )
    assert second == "Sorry <PERSON_2>, Mr. <PERSON_1> and <PERSON_3> are on it."
    # The surname came first; the reveal shows the whole name.
    assert placeholders.originals == {
        "<PERSON_1>": "John Smith",
        "<PERSON_2>": "Anna Berg",
        "<PERSON_3>": "Peter Olsen",
    }


# --- per project ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_project_that_counts_countries_as_personal_data_gets_them_scrubbed(project):
    strict = ProjectFactory(slug="strict", pii_entities=[*project.pii_entity_types, "COUNTRY"])
    comment = "Sorry Maria Gonzalez here, we ship to Canada and the VAT is wrong."
    items = {}
    for p in (project, strict):
        cluster = Cluster.objects.create(project=p, fingerprint="country", event_count=1)
        FeedbackEventFactory(project=p, cluster=cluster, comment=comment)
        items[p.slug] = queue_item_scrub(item=QueueItem.objects.create(project=p, cluster=cluster))

    default_text = items[project.slug].scrubbed["comments"][0]["text"]
    strict_text = items["strict"].scrubbed["comments"][0]["text"]
    assert default_text == "Sorry <PERSON_1> here, we ship to Canada and the VAT is wrong."
    assert strict_text == "Sorry <PERSON_1> here, we ship to <COUNTRY_1> and the VAT is wrong."
    country = PiiMapping.objects.get(queue_item=items["strict"], placeholder="<COUNTRY_1>")
    assert country.entity_type == "COUNTRY"
    assert encryption.decrypt(bytes(country.original_encrypted)) == "Canada"
    assert not PiiMapping.objects.filter(queue_item=items[project.slug], entity_type="COUNTRY")


@pytest.mark.django_db
def test_a_projects_entity_types_must_be_known(project):
    project.pii_entities = ["PERSON", "NAMES"]
    with pytest.raises(ValidationError) as error:
        project.full_clean()
    assert "pii_entities" in error.value.message_dict
    assert "NAMES" in str(error.value.message_dict["pii_entities"])
    project.pii_entities = ["PERSON", "COUNTRY"]
    project.full_clean()
