"""Login throttling with django-axes: what a locked-out login sees (the client address is
accounts.audit.client_ip)."""

from django.conf import settings
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    """One page for every username, known or not: a lockout must not tell who has an account."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes}
    response = render(
        request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Retry-After"] = str(minutes * 60)
    return response
