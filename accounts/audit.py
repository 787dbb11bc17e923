"""The audit log: `audit_record(...)` writes one AuditEntry per reviewer/lead/key action.

It sits in the bottom app so every app's services call it, one line per action, inside
the transaction that does the action: the entry commits with it or not at all. Who and
from where come from the request being served (AuditContextMiddleware keeps it in a
context variable), so services need not pass the request down; management commands pass
`actor="cli"`, and a task without a request records `system`.
"""

import contextvars
import ipaddress

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from .models import ApiKey, AuditEntry, Project

_request = contextvars.ContextVar("audit_request", default=None)

# Values kept in `details`: identifiers, enums, counts. Longer strings are cut, nested
# structures dropped; callers never pass free text a user typed (it may hold PII).
_DETAIL_STR_MAX = 120
_DETAIL_LIST_MAX = 50


class AuditContextMiddleware:
    """Makes the current request (its user, address, user agent) known to audit_record."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def client_ip(request):
    """The client's address. Behind TRIAGE_PROXY_COUNT trusted proxies it is the entry that
    many hops from the right of X-Forwarded-For (what the nearest trusted proxy saw);
    entries further left are client-supplied and not trusted. Else REMOTE_ADDR."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRIAGE_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            address = hops[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _actor(actor, request):
    """(label, user, api key) for whoever acts: a user, an API client or key, a name."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
        if actor is not None and not actor.is_authenticated:
            actor = None
    if actor is None:
        return "system", None, None
    if isinstance(actor, str):
        return actor, None, None
    if isinstance(actor, AbstractBaseUser):
        return actor.get_username(), actor, None
    key = actor if isinstance(actor, ApiKey) else getattr(actor, "api_key", None)
    if isinstance(key, ApiKey):
        return f"api-key:{key.prefix}", None, key
    return str(actor)[:160], None, None


def _detail_value(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = [_detail_value(v) for v in list(value)[:_DETAIL_LIST_MAX]]
        return [v for v in items if not isinstance(v, dict | list)]
    if isinstance(value, dict):
        return None
    return str(value)[:_DETAIL_STR_MAX]


def audit_record(*, action, target=None, project=None, actor=None, details=None):
    """Record `action` (e.g. "queue_item.label") on `target` (a model instance) by `actor`
    (default: the current request's user or API key; "cli" from commands).

    Call it inside the action's transaction. `project` (a Project or its id) defaults to
    the target's own (`target.project_id`, or the target itself when it is a Project).
    """
    request = _request.get()
    label, user, key = _actor(actor, request)
    if isinstance(project, Project):
        project_id = project.pk
    elif project is not None:
        project_id = project
    elif isinstance(target, Project):
        project_id = target.pk
    else:
        project_id = getattr(target, "project_id", None)
    return AuditEntry.objects.create(
        project_id=project_id,
        actor=label[:160],
        actor_user=user,
        actor_api_key=key,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        details={str(k): _detail_value(v) for k, v in (details or {}).items()},
        ip=client_ip(request) if request is not None else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else "",
    )
