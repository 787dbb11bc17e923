import json
import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from accounts.jsonbody import JsonInvalid, json_parse, json_pretty
from accounts.selectors import user_can_reveal_pii
from triage import charts, ranking
from triage.sql import AtLeast

register = template.Library()

_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")
_ESCAPED_PLACEHOLDER = re.compile(r"&lt;([A-Z][A-Z_]*_\d+)&gt;")


@register.filter
def count_label(n):
    """A count as the page shows it: "1,000+" when it stopped at its cap, else as is."""
    return f"{n:,}+" if isinstance(n, AtLeast) else n


@register.filter
def pii_marked(value, request=None):
    """Escape first (trace text is hostile), then highlight <TYPE_N> placeholders.

    `{{ text|pii_marked:request }}` on an item page turns each placeholder into a reveal
    button for users who may reveal in this project (membership_can_reveal_pii: htmx swaps
    in the original; without JS the button posts the page's `#pii-reveal-form`). Everyone
    else sees the highlight only.
    """
    if not isinstance(value, str):
        value = json.dumps(value, indent=2, ensure_ascii=False)
    escaped = str(escape(value))
    reveal = _reveal_url_prefix(request)
    if reveal is None:
        return mark_safe(
            _ESCAPED_PLACEHOLDER.sub(
                r'<mark class="pii" title="scrubbed value">&lt;\1&gt;</mark>', escaped
            )
        )
    from django.middleware.csrf import get_token

    token = escape(get_token(request))

    def button(match):
        url = escape(f"{reveal}{match.group(1)}")
        return (
            f'<mark class="pii" title="scrubbed value — click to reveal (logged)">'
            f'<button type="submit" class="pii-reveal" form="pii-reveal-form" '
            f'formaction="{url}" hx-post="{url}" hx-target="closest mark" hx-swap="outerHTML" '
            f'name="csrfmiddlewaretoken" value="{token}">&lt;{match.group(1)}&gt;</button></mark>'
        )

    return mark_safe(_ESCAPED_PLACEHOLDER.sub(button, escaped))


def _reveal_url_prefix(request):
    """`/p/<project>/items/<pk>/pii/` when this user may reveal on this item page, else None."""
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    if user is None or match is None:
        return None
    kwargs = match.kwargs
    if "project_slug" not in kwargs or "pk" not in kwargs:
        return None
    # The filter runs once per text on a page: ask the database once per request.
    if not hasattr(request, "_triage_can_reveal_pii"):
        request._triage_can_reveal_pii = user_can_reveal_pii(
            user=user, project_slug=kwargs["project_slug"]
        )
    if not request._triage_can_reveal_pii:
        return None
    from django.urls import reverse

    url = reverse("triage:pii_reveal", args=[kwargs["project_slug"], kwargs["pk"], "X"])
    return url[:-1]


@register.filter
def hours(value):
    if value is None:
        return "—"
    return f"{value:.1f} h"


@register.filter
def abs_hours(value):
    return hours(abs(value))


@register.filter
def pretty(value):
    return value.replace("_", " ") if isinstance(value, str) else value


@register.filter
def isotime(value):
    """An ISO timestamp from scrubbed JSON as `YYYY-MM-DD HH:MM`."""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return value or ""


@register.filter
def ago(value):
    """`3 hours ago`, or `just now` (never `0 minutes ago`)."""
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value)} ago"


@register.filter
def pretty_json(value):
    """Tool-call arguments: a JSON string or object, indented (escaping is the caller's)."""
    if isinstance(value, str):
        try:
            value = json_parse(value)
        except JsonInvalid:
            return value
    return "" if value is None else json_pretty(value)


@register.filter(name="priority")
def priority_filter(score):
    """A queue score without its severity floor (see triage.ranking)."""
    return ranking.priority(score)


# Health pages: the figures as triage.charts formats them, "–" when there is none.
register.filter("percent", charts.fmt_percent)
register.filter("ms", charts.fmt_ms)
register.filter("dollars", charts.fmt_dollars)


@register.filter
def mentions_marked(html, comment):
    """After pii_marked (escaped): `@name` of the comment's mentioned members in bold."""
    names = {user.username for user in comment.mentioned.all()}

    def mark(match):
        name = match.group(1)
        return (
            f'<strong class="mention">@{name}</strong>'
            if escape(name) == name and name in names
            else match.group(0)
        )

    return mark_safe(_MENTION.sub(mark, str(html)))
