"""django-csp's middleware, with the usual policy header built once per process.

django-csp builds the header afresh for every response (a deep copy of the settings, then a
join): 60 µs, about a seventh of a single ingest post's CPU, to write the same string. These
still take django-csp's own way: a response with a policy of its own (csp decorators), a
nonce or a header already set, a debug error page, and every response while URL prefixes
are excluded. Changed settings (tests) build the header again.
"""

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_OWN_POLICY = tuple(
    f"_csp_{kind}{ro}" for kind in ("config", "update", "replace", "exempt") for ro in ("", "_ro")
)
_built = {}  # "headers": [(name, value)] of a response with no policy of its own


@receiver(setting_changed)
def _forget(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY") or setting == "DEBUG":
        _built.clear()


def _excludes_prefixes():
    return any(
        (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
        for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")
    )


class CachedCSPMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        plain = not (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _OWN_POLICY)
            or HEADER in response
            or HEADER_REPORT_ONLY in response
            or (settings.DEBUG and response.status_code in (404, 500))
        )
        if plain and "headers" in _built:
            for name, value in _built["headers"]:
                response[name] = value
            # As django-csp does: a nonce asked for after the header is written is an error.
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
            return response
        response = super().process_response(request, response)
        if plain and not _excludes_prefixes():
            headers = (HEADER, HEADER_REPORT_ONLY)
            _built["headers"] = [(name, response[name]) for name in headers if name in response]
        return response
