"""Is a webhook URL an absolute http(s) URL? RFC 3986 syntax, nothing more.

The OpenAPI schema says `format: uri` with an http(s) `pattern` (WEBHOOK_URL_PATTERN), so
the API accepts what the schema does: Django's URLValidator also wants a dotted host, which
refuses a docker-compose service such as `http://receiver:8080/hook`. Whether the host may
be called (DNS, private addresses) is services.webhook_address_refusal's question.
"""

import ipaddress
import re
from urllib.parse import urlsplit

import idna

# What the schema states, and what webhook_url_problem checks first.
WEBHOOK_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://"

# RFC 3986 §2 and §3: the characters each component may carry (pct-encoded = % HEXDIG HEXDIG).
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED_SUB_DELIMS = r"A-Za-z0-9\-._~!$&'()*+,;="
_REG_NAME = re.compile(rf"(?:[{_UNRESERVED_SUB_DELIMS}]|{_PCT})+")
_USERINFO = re.compile(rf"(?:[{_UNRESERVED_SUB_DELIMS}:]|{_PCT})*")
_PATH = re.compile(rf"(?:[{_UNRESERVED_SUB_DELIMS}:@/]|{_PCT})*")
_QUERY_OR_FRAGMENT = re.compile(rf"(?:[{_UNRESERVED_SUB_DELIMS}:@/?]|{_PCT})*")
_PORT = re.compile(r"[0-9]*")


def _host_problem(host):
    if host.startswith("["):
        # IP-literal: an IPv6 address in brackets (IPvFuture has no use here).
        try:
            ipaddress.IPv6Address(host[1:-1] if host.endswith("]") else "")
        except ValueError:
            return "The host in brackets must be an IPv6 address."
        return None
    if not host:
        return "Enter a URL with a host."
    if not _REG_NAME.fullmatch(host):
        return "The host has characters a URL host may not have."
    return None


def webhook_url_ascii(url):
    """`url` with an international host spelled the way DNS knows it (IDNA 2008 with
    UTS #46 mapping, as browsers do: `Bücher.example` → `xn--bcher-kva.example`); any other
    URL unchanged. ValueError names a host no domain name can be."""
    if url.isascii():
        return url
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return url  # webhook_url_problem words it
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    if host.isascii():
        return url
    try:
        ascii_host = idna.encode(host, uts46=True).decode()
    except idna.IDNAError:
        raise ValueError(f"The host '{host}' is not a valid international domain name.") from None
    return url.replace(netloc, f"{userinfo}{at}{ascii_host}{colon}{port}", 1)


def webhook_url_problem(url):
    """Why `url` is not an absolute http(s) URL (RFC 3986), or None."""
    if not re.match(WEBHOOK_URL_PATTERN, url):
        return "Enter an http:// or https:// URL."
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "A URL may not contain spaces or control characters."
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "Enter a valid URL."
    authority = parts.netloc
    userinfo, _, hostport = authority.rpartition("@")
    if "@" in authority and not _USERINFO.fullmatch(userinfo):
        return "The user part of the URL has characters a URL may not have."
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return "Only a port may follow the bracketed host."
    else:
        host, _, port = hostport.partition(":")
    problem = _host_problem(host)
    if problem:
        return problem
    if port and (not _PORT.fullmatch(port) or int(port) > 65535):
        return "The port must be a number from 0 to 65535."
    if not _PATH.fullmatch(parts.path):
        return "The path has characters a URL may not have (percent-encode them)."
    if not all(_QUERY_OR_FRAGMENT.fullmatch(part) for part in (parts.query, parts.fragment)):
        return "The query or fragment has characters a URL may not have (percent-encode them)."
    return None
