"""Last line of defence: scrub log records with cheap regexes before any handler writes them.

Code must not log raw text in the first place (log ids and counts); this catches what slips
through, e.g. a value inside an exception message. Regexes only: no spaCy in a log call, so
names are not caught here.
"""

import logging
import re

from triage.pii import credentials

_PATTERNS = [
    ("EMAIL_ADDRESS", re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")),
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("CREDIT_CARD", re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")),
    ("US_SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("PHONE_NUMBER", re.compile(r"(?<![\w.])\+?\(?\d[\d ()\-.]{6,}\d(?![\w.])")),
    ("IP_ADDRESS", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("IP_ADDRESS", re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b")),
]
_MIN_PHONE_DIGITS = 7
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}")  # timestamps are not phone numbers


def scrub_line(text):
    """Replace credentials and patterned PII in one log line with `<TYPE>`."""
    spans = [(start, end, "SECRET") for start, end, _ in credentials.find_secrets(text)]
    for name, regex in _PATTERNS:
        for match in regex.finditer(text):
            if name == "PHONE_NUMBER" and (
                sum(c.isdigit() for c in match.group()) < _MIN_PHONE_DIGITS
                or _DATE.search(match.group())
            ):
                continue
            spans.append((match.start(), match.end(), name))
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
