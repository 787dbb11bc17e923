"""`<TYPE_N>` placeholders, one per value across a case, and scrubbing text and JSON with them."""

import re
from collections import Counter

from accounts.jsonbody import json_copy_bounded

from .analysis import _resolve, analyze_texts
from .names import COMMON_WORDS

# --- placeholders -----------------------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"<([A-Z_]+)_(\d+)>")
# What stands in for JSON nested past TRIAGE_JSON_MAX_DEPTH in a reviewer's view.
CUT_MARKER = "[nested too deeply: cut here]"


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
        self._upcoming = {}  # full names later in the batch: normalized → original

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

    def expect(self, found):
        """Full names about to be numbered ([(entity_type, value)] in text order), so a
        surname seen first ("Smith called. John Smith …") gets the full name's number."""
        for entity_type, value in found:
            normalized = _normalize_value(entity_type, value)
            if entity_type == "PERSON" and " " in normalized:
                self._upcoming.setdefault(normalized, value)

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
        """ "Smith" and "John Smith" are the same person (only when unambiguous)."""
        if entity_type != "PERSON" or " " in normalized:
            return None
        known = {k for kind, k in self._by_key if kind == "PERSON"} | set(self._upcoming)
        matches = {k for k in known if " " in k and normalized in k.split()}
        if len(matches) != 1:
            return None
        (full,) = matches
        return self.placeholder_for("PERSON", self._upcoming.get(full, full))


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


def _expect(placeholders, texts, spans_per_text):
    placeholders.expect(
        (entity_type, text[start:end])
        for text, spans in zip(texts, spans_per_text, strict=True)
        for start, end, entity_type in spans
    )


def scrub_texts(texts, placeholders, entities=None):
    """Scrub a batch of strings; numbering runs by first appearance, text by text.

    `entities`: the types that count as personal data (default TRIAGE_PII_ENTITIES).
    """
    texts = list(texts)
    detected = analyze_texts(texts, entities)
    _expect(placeholders, texts, detected)
    return [
        _replace(text, spans, placeholders) for text, spans in zip(texts, detected, strict=True)
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


def rescrub_texts(texts, placeholders, entities=None):
    """Scrub text a reviewer typed or pasted, against a case's existing placeholders.

    Placeholders already in the text stay as they are; a known original becomes the
    placeholder it maps to; a new value gets the case's next number.
    """
    texts = list(texts)
    for text in texts:
        placeholders.reserve(text)
    resolved = []
    for text, detected in zip(texts, analyze_texts(texts, entities), strict=True):
        spans = [(s, e, t, 0.5) for s, e, t in detected] + _known_value_spans(text, placeholders)
        resolved.append(_resolve(_outside_placeholders(text, spans)))
    _expect(placeholders, texts, resolved)
    return [_replace(t, spans, placeholders) for t, spans in zip(texts, resolved, strict=True)]


def _string_leaves(value, path=()):
    """(path, text) of every string in a JSON value, depth-first in document order.

    Iterative: stored traces may nest deeper than Python's recursion limit allows.
    """
    stack = [(path, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))


def _set_path(root, path, new_value):
    if not path:
        return new_value
    target = root
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new_value
    return root


def scrub_json(values, placeholders, scrub=scrub_texts, entities=None):
    """Scrub every string leaf of each JSON value (dicts, lists of chat messages, …).

    Presidio's BatchAnalyzerEngine.analyze_dict fails on lists of dicts, so we walk the
    JSON ourselves and send all leaves through one batch. `scrub=rescrub_texts` for text
    a reviewer edited.
    """
    # Copied without recursion, and cut at the nesting cap: what reviewers see must also
    # survive the pages' own JSON rendering.
    values = [json_copy_bounded(v, marker=CUT_MARKER)[0] for v in values]
    leaves = [(i, path, text) for i, v in enumerate(values) for path, text in _string_leaves(v)]
    scrubbed = scrub([text for _, _, text in leaves], placeholders, entities)
    for (i, path, _), new_text in zip(leaves, scrubbed, strict=True):
        values[i] = _set_path(values[i], path, new_text)
    return values
