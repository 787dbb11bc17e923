"""Dates of birth: a date right after a cue ("born on", "DOB:", "date of birth", "birthday").

A bare date is no personal data (an order date, a release), so only a cued one is taken.
A year alone ("born in 1985") stays: like HIPAA's Safe Harbor, we drop every element of a
date of birth except the year.
"""

import re

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = (
    r"(?P<numeric>\d{1,2}[./\-]\d{1,2}(?:[./\-](?:\d{4}|\d{2}))?(?![./\-]?\d))"
    r"|(?P<iso>\d{4}[./\-]\d{1,2}[./\-]\d{1,2})(?!\d)"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH},?(?:\s+\d{{4}})?\b"
    rf"|{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?\b"
    rf"|{_MONTH}\s+\d{{4}}\b"
)
_CUE = (
    r"\b(?:born(?:\s+(?:on|in))?|d\.?o\.?b\b\.?|date\s+of\s+birth|birth\s*date|birthday"
    r"|b-?day|geburtsdatum|geboren(?:\s+am)?|n[ée]e?\s+le|fecha\s+de\s+nacimiento"
    r"|data\s+di\s+nascita)"
)
# The cue, a few joining words ("is", "was", "on", ":"), then the date.
DATE_OF_BIRTH = re.compile(
    rf"(?i){_CUE}[\s:=\-–]*(?:(?:is|was|on|of|=)\b[\s:=\-–]*){{0,2}}(?P<date>{_DATE})"
)


def _plausible(match):
    """Day and month in range; a numeric date reads as d/m or m/d."""
    digits = match.group("numeric") or match.group("iso")
    if not digits:
        return True
    parts = [int(p) for p in re.split(r"[./\-]", digits)]
    if match.group("iso"):
        parts = parts[1:]
    day_month = parts[:2]
    return min(day_month) >= 1 and min(day_month) <= 12 and max(day_month) <= 31


def find_dates_of_birth(text):
    """(start, end) of each date that follows a date-of-birth cue."""
    return [m.span("date") for m in DATE_OF_BIRTH.finditer(text) if _plausible(m)]
