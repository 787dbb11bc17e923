"""Login throttling with django-axes: who the client is, and what a locked-out login sees."""

from django.conf import settings
from django.shortcuts import render


def client_ip(request):
    """REMOTE_ADDR; with TRIAGE_PROXY_COUNT reverse proxies in front, the address the outermost
    of them saw: X-Forwarded-For's Nth entry from the right (each proxy appends the peer it
    saw). Entries further left are whatever the client sent, so they are never trusted."""
    hops = settings.TRIAGE_PROXY_COUNT
    if hops:
        forwarded = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [h for h in forwarded if h]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request, original_response=None, credentials=None):
    """One page for every username, known or not: a lockout must not tell who has an account."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes}
    response = render(
        request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Retry-After"] = str(minutes * 60)
    return response
