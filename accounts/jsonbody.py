"""JSON from the outside, parsed with a nesting cap and finite numbers only.

Python's JSON parser and everything that walks its result recurse, so a body nested a
thousand deep is a RecursionError (a 500), and a value nested a few hundred deep, once
stored, breaks every later walker. Every request body, multipart part, import line and
form field goes through `json_parse`: the depth is measured on the text first, without
recursion, so nothing recursive ever sees a value deeper than TRIAGE_JSON_MAX_DEPTH.
"""

import json
import math
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# A JSON string (escapes included) or one structural character; strings are matched whole
# so brackets and commas inside them do not count.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
# An exponent of three digits or more may overflow to infinity: only then are numbers
# parsed one by one (a Python call per float costs ~10× the parse).
_BIG_EXPONENT = re.compile(r"[eE][+-]?\d{3}")
# \u0000 not itself escaped: PostgreSQL's jsonb refuses it (a 500 at the INSERT).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class JsonInvalid(ValueError):
    """Unparseable, too deep or non-finite JSON; `field` names where, `code` what."""

    def __init__(self, code, detail, field="body"):
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field


def max_depth_setting():
    return settings.TRIAGE_JSON_MAX_DEPTH


def _path_name(segments, base):
    """The field to name: `base` for a value given a name already, else the body's field
    (`metadata`) or, inside lists of items, the item's field (`events[0].metadata`)."""
    if base != "body":
        return base
    name, keys, after_index = "", 0, False
    for segment in segments:
        if isinstance(segment, int):
            name, after_index = f"{name}[{segment}]", True
            continue
        if segment is None or (keys and not after_index) or keys == 2:
            break
        name = f"{name}.{segment}" if name else segment
        keys, after_index = keys + 1, False
    return name or base


def _key(token):
    try:
        return str(json.loads(token))
    except ValueError:
        return token.strip('"')


def text_depth_path(text, max_depth):
    """The path (as segments) to the first container nested deeper than `max_depth`.

    Iterative, on the raw text: names the place in a body json_parse found too deep.
    """
    return _scan(text, max_depth=max_depth)


def text_path_at(text, position):
    """The path (as segments) to the value holding the character at `position`."""
    return _scan(text, position=position)


def _scan(text, *, max_depth=None, position=None):
    stack = []  # per open container: [is_object, current key or index]
    expect_key = False
    for match in _TOKEN.finditer(text):
        token = match.group()
        char = token[0]
        if position is not None and match.end() > position:
            return [entry[1] for entry in stack]
        if char == '"':
            if expect_key and stack and stack[-1][0]:
                stack[-1][1] = _key(token)
            expect_key = False
        elif char in "{[":
            if max_depth is not None and len(stack) >= max_depth:
                return [entry[1] for entry in stack]
            stack.append([char == "{", None if char == "{" else 0])
            expect_key = char == "{"
        elif char in "}]":
            if stack:
                stack.pop()
            expect_key = False
        elif stack:  # a comma
            if stack[-1][0]:
                expect_key = True
            else:
                stack[-1][1] += 1
    return None if position is None else [entry[1] for entry in stack]


_CONTAINERS = (dict, list, tuple)  # a tuple: isinstance on a union (dict | list) is ~2.5× slower


def value_depth(value, limit=None):
    """Nesting depth of a parsed JSON value (a scalar is 0), level by level without
    recursion; stops counting at `limit` + 1. Only containers are visited."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level and (limit is None or depth <= limit):
        depth += 1
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, _CONTAINERS)
        ]
    return depth


def _finite_float(text):
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range: numbers must be finite.")
    return number


def _no_constant(name):
    raise ValueError(f"{name} is not valid JSON: numbers must be finite.")


def json_parse(data, *, field="body", max_depth=None):
    """bytes or str → the JSON value; raises JsonInvalid naming `field` (or the path in it)."""
    max_depth = max_depth_setting() if max_depth is None else max_depth
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInvalid("malformed_body", f"Not UTF-8: {exc}", field) from None
    nul = _NUL_ESCAPE.search(data) if "\\u0000" in data else None  # the regex is slow
    if nul or "\x00" in data:
        name = _path_name(text_path_at(data, nul.start() if nul else data.index("\x00")), field)
        raise JsonInvalid(
            "malformed_body", "Strings may not contain NUL characters (\\u0000).", name
        )
    try:
        parse_float = _finite_float if _BIG_EXPONENT.search(data) else None
        value = json.loads(data, parse_float=parse_float, parse_constant=_no_constant)
        depth = value_depth(value, max_depth)
    except RecursionError:  # far past the cap: the C parser gave up first
        value, depth = None, max_depth + 1
    except ValueError as exc:
        raise JsonInvalid("malformed_body", f"Not valid JSON: {exc}", field) from None
    # Measuring the parsed value costs a third of measuring the text; the text is scanned
    # only to name the path in a body that is too deep.
    if depth > max_depth:
        name = _path_name(text_depth_path(data, max_depth), field)
        raise JsonInvalid(
            "too_deep", f"JSON nested deeper than {max_depth} levels (at {name}).", name
        )
    return value


def value_check_depth(value, *, field, max_depth=None):
    """For values that did not come through json_parse (protobuf, SDK objects)."""
    max_depth = max_depth_setting() if max_depth is None else max_depth
    if value_depth(value, max_depth) > max_depth:
        raise JsonInvalid("too_deep", f"JSON nested deeper than {max_depth} levels.", field)
    return value


class JsonBodyParseError(exceptions.ParseError):
    """A ParseError that names the field; accounts.errors renders `fields` from it."""

    def __init__(self, invalid):
        super().__init__(invalid.detail, invalid.code)
        self.code = invalid.code
        self.fields = {invalid.field: [invalid.detail]}


class JsonBodyParser(JSONParser):
    """DRF's default parser (REST_FRAMEWORK settings): json_parse under the nesting cap."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read() if stream is not None else b""
        try:
            return json_parse(data)
        except JsonInvalid as exc:
            raise JsonBodyParseError(exc) from None


def json_copy_bounded(value, max_depth=None, marker="…"):
    """A copy of plain JSON with containers below `max_depth` levels replaced by `marker`.

    Without recursion (copy.deepcopy recurses twice per level). Returns (copy, was_cut).
    """
    max_depth = max_depth_setting() if max_depth is None else max_depth

    def fresh(node, depth):
        if not isinstance(node, dict | list):
            return node, False
        if depth > max_depth:
            return marker, True
        return ({} if isinstance(node, dict) else []), False

    root, cut = fresh(value, 1)
    stack = [(value, root, 1)] if isinstance(root, dict | list) else []
    while stack:
        source, target, depth = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            copied, was_cut = fresh(child, depth + 1)
            cut = cut or was_cut
            if isinstance(copied, dict | list):
                stack.append((child, copied, depth + 1))
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
    return root, cut


def json_pretty(value, max_depth=None):
    """Indented JSON for pages, cut at the nesting cap.

    json.dumps(indent=…) runs the pure-Python encoder, one generator frame per level.
    """
    max_depth = max_depth_setting() if max_depth is None else max_depth
    if value_depth(value, max_depth) > max_depth:
        value, _ = json_copy_bounded(value, max_depth)
    return json.dumps(value, indent=2, ensure_ascii=False)
