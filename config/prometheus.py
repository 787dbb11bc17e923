"""GET /metrics for Prometheus: service figures for operators, read from the database at
scrape time, so every web and Celery process is counted the same way (no
per-process counters to merge). Ingest rate is `rate(triage_*_ingested_total[5m])` over
the highest row id, a counter that costs one index lookup to read."""

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from feedback.models import FeedbackEvent, Run
from triage.models import Alert, QueueItem, TriageRun
from webhooks.models import WebhookDelivery


def oldest_unprocessed_age_seconds(now=None):
    """Age of the oldest feedback event no processing task has handled yet (0 if none).
    The partial index on unprocessed rows answers it without a scan."""
    oldest = FeedbackEvent.objects.filter(processed_at__isnull=True).aggregate(
        oldest=Min("received_at")
    )["oldest"]
    if oldest is None:
        return 0.0
    return max(((now or timezone.now()) - oldest).total_seconds(), 0.0)


class TriageCollector:
    def collect(self):
        now = timezone.now()
        for name, model, what in (
            ("feedback_events", FeedbackEvent, "Feedback events ingested"),
            ("runs", Run, "Runs ingested"),
        ):
            top = model.objects.aggregate(top=Max("pk"))["top"] or 0
            yield CounterMetricFamily(
                f"triage_{name}_ingested", f"{what} (highest row id).", value=top
            )
        yield GaugeMetricFamily(
            "triage_processing_backlog_events",
            "Feedback events waiting for the processing task.",
            value=FeedbackEvent.objects.filter(processed_at__isnull=True).count(),
        )
        yield GaugeMetricFamily(
            "triage_processing_backlog_oldest_age_seconds",
            "Age of the oldest unprocessed feedback event.",
            value=oldest_unprocessed_age_seconds(now),
        )
        queue = GaugeMetricFamily(
            "triage_queue_items", "Annotation queue items by status.", labels=["status"]
        )
        counts = dict(QueueItem.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in QueueItem.Status.values:
            queue.add_metric([status], counts.get(status, 0))
        yield queue
        durations = GaugeMetricFamily(
            "triage_job_last_duration_seconds",
            "Duration of the last finished triage job run, by kind.",
            labels=["kind"],
        )
        for kind in TriageRun.objects.values_list("kind", flat=True).distinct().order_by():
            last = (
                TriageRun.objects.filter(
                    kind=kind, started_at__isnull=False, finished_at__isnull=False
                )
                .order_by("-finished_at")
                .first()
            )
            if last is not None:
                durations.add_metric([kind], (last.finished_at - last.started_at).total_seconds())
        yield durations
        webhooks = GaugeMetricFamily(
            "triage_webhook_deliveries",
            "Webhook deliveries by status (failed = given up after every retry).",
            labels=["status"],
        )
        counts = dict(
            WebhookDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by()
        )
        for status in WebhookDelivery.Status.values:
            webhooks.add_metric([status], counts.get(status, 0))
        yield webhooks
        firing = GaugeMetricFamily(
            "triage_alerts_firing", "Symptom alerts firing, by rule.", labels=["rule"]
        )
        for rule, n in (
            Alert.objects.filter(status=Alert.Status.FIRING)
            .values_list("rule")
            .annotate(n=Count("pk"))
            .order_by("rule")
        ):
            firing.add_metric([rule], n)
        yield firing


@require_GET
def metrics(request):
    """Open like /healthz unless TRIAGE_METRICS_TOKEN is set (then `Bearer <token>`)."""
    token = settings.TRIAGE_METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TriageCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
