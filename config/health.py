"""GET /healthz for load balancers and uptime checks: can we take feedback, and process it?"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from accounts.redis_client import redis_client
from feedback.models import FeedbackEvent


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
    stores every event (the sweeper catches up later), so the service is degraded, not down."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        # The partial index on unprocessed rows keeps this cheap.
        backlog = FeedbackEvent.objects.filter(processed_at__isnull=True).count()
    except DatabaseError:
        return JsonResponse({"status": "down", "database": "down"}, status=503)
    broker = _broker()
    return JsonResponse(
        {
            "status": "degraded" if broker == "down" else "ok",
            "database": "ok",
            "broker": broker,
            "unprocessed_events": backlog,
        }
    )
