"""Last line of defence: scrub log records with cheap regexes before any handler writes them.

Code must not log raw text in the first place (log ids and counts); this catches what slips
through, e.g. a value inside an exception message or a secret in a request path. Regexes
only: no spaCy in a log call, so names are not caught here.

Log lines must stay correlatable: UUIDs (celery task ids), timestamps and integer ids are
never rewritten. A number counts as a card only when it passes the Luhn check, and as a
phone only when it is written like one (a leading +, brackets, separators) or follows a
phone word ("call 5550134").
"""

import logging
import re

from feedback.tokens import PREFIX as FEEDBACK_TOKEN_PREFIX
from triage.pii import credentials

# Secrets that travel in URLs, rewritten before anything else looks at the line.
_SECRET_URL_PARTS = [
    # Browser feedback tokens: /api/v1/feedback-tokens/<token>, and the token anywhere else.
    (re.compile(r"(/feedback-tokens/)[^/?#\s\"']+"), r"\1<FEEDBACK_TOKEN>"),
    (re.compile(re.escape(FEEDBACK_TOKEN_PREFIX) + r"[\w\-:.]{8,}"), "<FEEDBACK_TOKEN>"),
    # Credentials in query strings: ?api_key=…&token=… (the value only, up to the next &).
    (
        re.compile(
            r"(?i)([?&](?:api[_\-]?key|key|x-api-key|token|access[_\-]?token|auth|secret"
            r"|password|signature|sig|code)=)[^&\s\"'#]+"
        ),
        r"\1<SECRET>",
    ),
]

_PATTERNS = [
    ("EMAIL_ADDRESS", re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")),
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("CREDIT_CARD", re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")),
    ("US_SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("PHONE_NUMBER", re.compile(r"(?<![\w.])\+?\(?\d[\d ()\-.]{6,}\d(?![\w.])")),
    # Octets up to 255: "Chrome/131.0.6778.85" in a user agent is a version, not an address.
    (
        "IP_ADDRESS",
        re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
    ),
    ("IP_ADDRESS", re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b")),
]
# Identifiers and times no pattern may reach into (secrets aside).
_KEEP = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\b[0-9a-fA-F]{32}\b"
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\b\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[+-]\d{2}:?\d{2})?"
)
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_MIN_PHONE_DIGITS = 7
# Words that make a bare digit run a phone number ("tool call 1234567" stays an id).
_PHONE_WORDS = re.compile(
    r"(?i)\b(?:phones?|tel|telephone|mobile|cell|sms|whatsapp|fax"
    r"|(?:call|text|reach|ring) (?:me|us))\b"
)
_PHONE_CONTEXT_CHARS = 24


def _luhn(digits):
    total = 0
    for i, d in enumerate(int(c) for c in reversed(digits)):
        total += d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
    return total % 10 == 0


def _looks_like_phone(text, match):
    value = match.group()
    if sum(c.isdigit() for c in value) < _MIN_PHONE_DIGITS:
        return False
    if "(" in value or ")" in value:  # an area code: (415) 555-0134, not "8000 (2269"
        return bool(re.search(r"\(\d{1,4}\)", value))
    if value.startswith("+"):
        return True
    groups = re.split(r"[ \-.]+", value)
    if len(groups) > 1:
        # "555-0134" and "415 555 0134" are phones; "13.123456" is a decimal and
        # `" 200 5120` an access log's status and size: two groups need a dash.
        if not re.search(r"[ \-]", value):  # dots only: 555.123.4567, not 131.0.6778.85
            return len(groups) >= 3 and all(2 <= len(g) <= 4 for g in groups)
        return len(groups) >= 3 or "-" in value
    window = text[max(0, match.start() - _PHONE_CONTEXT_CHARS) : match.start()]
    return bool(_PHONE_WORDS.search(window))


def _accept(name, text, match):
    if name == "CREDIT_CARD":
        return _luhn(re.sub(r"\D", "", match.group()))
    if name == "PHONE_NUMBER":
        return _looks_like_phone(text, match)
    return True


def redact_secret_urls(text):
    for regex, replacement in _SECRET_URL_PARTS:
        text = regex.sub(replacement, text)
    return text


def scrub_line(text):
    """Replace URL secrets, credentials and patterned PII in one log line with `<TYPE>`."""
    text = redact_secret_urls(text)
    keep = [m.span() for m in _KEEP.finditer(text)]
    spans = [
        (start, end, "SECRET")
        for start, end, _ in credentials.find_secrets(text)
        if not _PLACEHOLDER.match(text, start)  # `api_key=<SECRET>&…`: redacted already
    ]
    for name, regex in _PATTERNS:
        for match in regex.finditer(text):
            start, end = match.span()
            if any(s < end and start < e for s, e in keep):
                continue
            if _accept(name, text, match):
                spans.append((start, end, name))
    out, cursor = [], 0
    for start, end, name in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < cursor:
            continue
        out.append(text[cursor:start])
        out.append(f"<{name}>")
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


class ScrubPiiFilter(logging.Filter):
    """Formats the message (and any traceback) once, scrubbed; never drops a record."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = scrub_line(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_line(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_line(record.stack_info)
        return True


def install(logger=None):
    """Attach the filter to every handler of `logger` (root by default), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, ScrubPiiFilter) for f in handler.filters):
            handler.addFilter(ScrubPiiFilter())
