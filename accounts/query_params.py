"""Values from query strings and form posts on pages: bounded, NUL-free, never an exception.

PostgreSQL refuses NUL in text ("%00" was a 500), `str.isdigit()` is true for "²" (then
int() raises), a bigint column overflows on 20 digits, and dates near year 1 or 9999
overflow as soon as a week is added. Pages treat such values like unknown ones: ignored.
"""

import math
import re
from datetime import date

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,19}")
BIGINT_MAX = 2**63 - 1
EARLIEST_DATE = date(2000, 1, 1)


def clean_text(value, *, max_length=128, allowed=None):
    """A str without control characters (NUL included), stripped and cut; "" if not allowed."""
    value = _CONTROL.sub("", value or "").strip()[:max_length]
    return value if allowed is None or value in allowed else ""


def query_text(query, name, **kwargs):
    return clean_text(query.get(name), **kwargs)


def parse_int(value, *, default=None, minimum=0, maximum=BIGINT_MAX):
    """ASCII digits in [minimum, maximum] → int, anything else → default."""
    value = (value or "").strip()
    if not _DIGITS.fullmatch(value):
        return default
    number = int(value)
    return number if minimum <= number <= maximum else default


def query_int(query, name, **kwargs):
    return parse_int(query.get(name), **kwargs)


def parse_float(value, default=None):
    """A finite float or default (float() also takes "nan" and "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def parse_date(value, *, default, earliest=EARLIEST_DATE, latest=None):
    """YYYY-MM-DD within [earliest, latest (default: today)] → date, else default."""
    try:
        day = date.fromisoformat(clean_text(value, max_length=10))
    except ValueError:
        return default
    latest = latest or date.today()
    return day if earliest <= day <= latest else default
