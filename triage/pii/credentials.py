"""Credentials in free text: detect-secrets' regex plugins plus the shapes LLM traces carry.

Presidio has no secrets recognizer. detect-secrets knows many vendors' key formats, but it
scans source files line by line and yields values, not offsets; here every rule is run with
`finditer` so we get spans, and each span is widened to the whole token so no tail of a key
survives. The entropy plugins are left out: on prose they flag every long word.
"""

import re
from functools import lru_cache

# Characters a key, token or password is made of. Left extension stops at `=`/`:` so the
# key name of `api_key=…` stays readable; right extension keeps base64 padding.
_TOKEN_LEFT = re.compile(r"[A-Za-z0-9_\-+/.~]")
_TOKEN_RIGHT = re.compile(r"[^\s\"'`,;<>()\[\]{}]")
_TRAILING = ".:!?"
_MIN_KEYWORD_VALUE = 6

_KV_VALUE = r"[\"']?([^\s\"'`,;]{" + str(_MIN_KEYWORD_VALUE) + ",})"
_PASSWORD_WORD = (
    r"(?:new\s+|old\s+|current\s+|temporary\s+|temp\s+)?"
    r"(?:password|passwort|passcode|passphrase|passwd|pwd|pw|pin(?:\s*code)?)"
)
# Rules whose value is a password (typed PASSWORD; every other rule's is a SECRET).
PASSWORD_RULES = {"password_value", "password_in_words"}
# Our own rules: (name, regex, group whose start marks the secret).
OWN_RULES = [
    ("openai_or_anthropic_key", r"\bsk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{16,}", 0),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{20,}", 0),
    ("github_pat", r"\bgithub_pat_[A-Za-z0-9_]{20,}", 0),
    ("aws_access_key_id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", 0),
    ("aws_secret", r"(?i)aws_secret_access_key[\"']?\s*[=:]\s*[\"']?(\S+)", 1),
    ("bearer", r"(?i)\bbearer\s+([A-Za-z0-9_\-.=~+/]{12,})", 1),
    ("basic_auth_header", r"(?i)\bbasic\s+([A-Za-z0-9+/]{16,}={0,2})", 1),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*", 0),
    ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{30,}", 0),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", 0),
    (
        "private_key_block",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        0,
    ),
    (
        "key_value",
        r"(?i)\b(?:api[_\- ]?key|apikey|access[_\- ]?key|access[_\- ]?token|auth[_\- ]?token"
        r"|refresh[_\- ]?token|id[_\- ]?token|secret[_\- ]?key|client[_\- ]?secret"
        r"|private[_\- ]?key|token|secret)[\"']?\s*(?:=>|:=|[:=])\s*" + _KV_VALUE,
        1,
    ),
    # "password: hunter22", "pwd=…": any value of 4+ characters.
    (
        "password_value",
        rf"(?i)\b{_PASSWORD_WORD}[\"']?\s*(?:=>|:=|[:=])\s*[\"']?([^\s\"'`,;]{{4,}})",
        1,
    ),
    # "my password is Hunter2!Secret": the value must look like one (see _looks_like_password)
    # so "my password is wrong" stays.
    (
        "password_in_words",
        rf"(?i)\b{_PASSWORD_WORD}\s+(?:is|was|would\s+be|=)\s*[:\-]?\s*"
        r"(?:still\s+|now\s+)?[\"'`]?([^\s\"'`,;]{4,})",
        1,
    ),
    (
        "credentials_in_url",
        r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:([^\s/@]{3,})@",
        1,
    ),
]


@lru_cache(maxsize=1)
def rules():
    """Compiled (name, regex, group) rules: ours first, then detect-secrets' plugins."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins import keyword
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.ip_public import IPPublicDetector

    compiled = [(name, re.compile(regex), group) for name, regex, group in OWN_RULES]
    for plugin in get_mapping_from_secret_type_to_class().values():
        # Entropy plugins are not regex based; public IPs are Presidio's IP_ADDRESS.
        if not issubclass(plugin, RegexBasedDetector) or plugin is IPPublicDetector:
            continue
        for regex in plugin.denylist:
            compiled.append((plugin.__name__, regex, -1))
    for regex, group in {
        **keyword.CONFIG_DENYLIST_REGEX_TO_GROUP,
        **keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
    }.items():
        compiled.append(("KeywordDetector", regex, group))
    return compiled


def _widen(text, start, end, multiline=False):
    """Grow [start, end) to the whole token it sits in, minus sentence punctuation."""
    if multiline:
        return start, end
    while start > 0 and _TOKEN_LEFT.match(text[start - 1]):
        start -= 1
    while end < len(text) and _TOKEN_RIGHT.match(text[end]):
        end += 1
    while end > start + 1 and text[end - 1] in _TRAILING:
        end -= 1
    return start, end


def _group_span(match, group):
    if group >= 0:
        return match.span(group)
    # detect-secrets' plugins: the last non-empty group holds the value, else the match.
    for index in range(len(match.groups()), 0, -1):
        if match.group(index):
            return match.span(index)
    return match.span()


def _looks_like_password(value):
    """Not an ordinary word: a digit, a symbol or a capital inside ("Hunter2!Secret")."""
    return any(not c.isalpha() for c in value) or any(c.isupper() for c in value[1:])


def find_secrets(text):
    """Sorted, non-overlapping (start, end, rule) spans of credentials in `text`.

    Where two rules cover the same stretch, the earlier rule's name is kept (ours come
    first), so a password named as one stays in PASSWORD_RULES.
    """
    found = []
    for name, regex, group in rules():
        for match in regex.finditer(text):
            start, end = _group_span(match, group)
            if start < 0 or end <= start:
                continue
            if name == "KeywordDetector":
                # Their value regex runs to the end of the line; keep the first token only.
                end = start + 1
            start, end = _widen(text, start, end, multiline=name == "private_key_block")
            if name in ("KeywordDetector", "key_value") and end - start < _MIN_KEYWORD_VALUE:
                continue
            quoted = start > 0 and text[start - 1] in "\"'`"
            if name == "password_in_words" and not (
                quoted or _looks_like_password(text[start:end])
            ):
                continue
            found.append((start, end, name))
    merged = []
    for start, end, name in sorted(found, key=lambda s: (s[0], -s[1])):
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end, merged[-1][2])
            continue
        merged.append((start, end, name))
    return merged
