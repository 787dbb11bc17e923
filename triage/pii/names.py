"""Person names: the ones spaCy's small model misses, and ordinary words it takes for names.

`find_names` pairs a first name from gender-guesser's dictionary with name-like tokens;
`is_capitalised_common_word` tells an NER span that is ordinary words, capitalised only
because a sentence starts there.
"""

from functools import lru_cache

# Words that are first names somewhere but mostly ordinary English in support text.
COMMON_WORDS = set(
    """will may mark bill grant rose hope joy art june july april august summer winter autumn
    don max pat rob sue jack frank gene guy ray dawn faith grace ivy lily page love sun star king
    young long gay an my the hi hey yo ok key said here case chase penny price rich sterling
    bishop carter cook baker miles chance angel sky river stone major wade drew dean lane brook
    hunter fisher mason ford hall park bay lee may sunny happy honey candy crystal pearl ruby
    amber jade jasmine olive iris daisy holly heather autumn april van de la le del di da von
    ten ter du des dos das den der el al bot chat user admin test demo order card account help
    support team service customer client thanks regards best dear hello hola ciao age""".split()
)
# Words that open a greeting, an apology or a sign-off and are never part of the name after
# them: "Sorry Maria Gonzalez" is "Sorry <PERSON_1>".
GREETINGS = {"sorry", "hi", "hiya", "hello", "hey", "heya", "dear", "thanks", "thank", "thx",
             "cheers", "regards", "welcome", "congrats", "congratulations", "ok",
             "okay", "yes", "no", "please", "bye", "goodbye", "good", "morning", "afternoon",
             "evening", "apologies", "oh", "ah", "well", "attn", "greetings", "yo", "howdy",
             "hallo", "hola", "ciao", "bonjour", "salut", "hej", "moin", "ps", "fyi", "re",
             "fwd", "sincerely", "best", "kind", "warm", "so", "great", "sure"}  # fmt: skip
# Business words and abbreviations the NER takes for names ("Invoice VAT"): a PERSON span
# made only of these and acronyms is no person.
NOT_NAMES = {"invoice", "invoices", "vat", "tax", "gst", "hst", "receipt", "refund", "order",
             "account", "customer", "client", "support", "billing", "payment", "sku", "id",
             "api", "crm", "hr", "pdf", "csv", "faq", "iban", "eori", "ein", "tin", "ssn",
             "url", "sla", "kpi", "ceo", "cto", "cfo", "it", "qa", "ui", "ux"}  # fmt: skip
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


def _is_acronym(token):
    return token.is_alpha and token.text.isupper() and len(token.text) <= 5


def name_bounds(doc, start, end):
    """The name inside a PERSON span as (start, end), or None when it holds no name.

    Leading greetings and interjections are cut off ("Sorry Maria Gonzalez" → "Maria
    Gonzalez"), so the same person gets the same placeholder wherever they are greeted;
    a span of business words and acronyms ("Invoice VAT", "HR") is dropped.
    """
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None:
        return start, end
    tokens = list(span)
    while tokens and (
        tokens[0].lower_ in GREETINGS
        or tokens[0].is_punct
        or (tokens[0].pos_ == "INTJ" and not _is_first_name(tokens[0].text))
    ):
        tokens.pop(0)
    words = [t for t in tokens if t.is_alpha]
    if not words or all(
        (t.lower_ in NOT_NAMES or _is_acronym(t)) and not _is_first_name(t.text) for t in words
    ):
        return None
    return max(start, tokens[0].idx), end


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
