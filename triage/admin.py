from django.contrib import admin

from .models import Alert, AlertRule, Cluster, QueueItem


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "category", "status", "event_count", "score")
    list_filter = ("status", "category")


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "score", "claimed_by", "decision")
    list_filter = ("status", "decision")
    exclude = ("scrubbed",)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """A project's own thresholds for a symptom alert (over TRIAGE_ALERT_RULES)."""

    list_display = ("project", "rule", "enabled", "params")
    list_filter = ("rule", "enabled")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("project", "rule", "key", "status", "fired_at", "resolved_at", "value")
    list_filter = ("status", "rule")
    readonly_fields = ("fired_at", "resolved_at", "last_evaluated_at", "context")
