"""GET /healthz for load balancers and uptime checks: can we take feedback, and process it?"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from accounts.ratelimit import rate_limit_store
from accounts.redis_client import redis_client
from feedback.models import FeedbackEvent
from triage.retention import raw_retention_status

from .prometheus import oldest_unprocessed_age_seconds


def _broker():
    if not settings.REDIS_URL:
        return "in-process"  # embedded shape: no broker to lose
    try:
        redis_client(settings.REDIS_URL).ping()
    except Exception:  # any Redis failure means the same thing here
        return "down"
    return "ok"


@require_GET
def healthz(request):
    """503 only when the database is unreachable: with the broker down, ingest still
    stores every event (the sweeper catches up later), so the service is degraded, not down.
    Degraded too when the oldest unprocessed event is older than
    TRIAGE_BACKLOG_MAX_AGE_SECONDS (processing is stuck or far behind); the body then says
    how old it is."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        # The partial index on unprocessed rows keeps both cheap.
        backlog = FeedbackEvent.objects.filter(processed_at__isnull=True).count()
        age = oldest_unprocessed_age_seconds() if backlog else 0.0
        retention = raw_retention_status()
    except DatabaseError:
        return JsonResponse({"status": "down", "database": "down"}, status=503)
    broker = _broker()
    stuck = age > settings.TRIAGE_BACKLOG_MAX_AGE_SECONDS
    body = {
        "status": "degraded" if broker == "down" or stuck else "ok",
        "database": "ok",
        "broker": broker,
        "unprocessed_events": backlog,
        "raw_retention": retention,
        # Where rate limits are counted: "redis" or "database" hold across processes;
        # "in-process" (both unreachable) counts each process apart.
        "rate_limit": rate_limit_store(),
    }
    if stuck:
        body["backlog_oldest_age_seconds"] = round(age)
    return JsonResponse(body)
