from django.contrib import admin

from .models import Cluster, PiiRevealAudit, QueueItem


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "category", "status", "event_count", "score")
    list_filter = ("status", "category")


@admin.register(QueueItem)
class QueueItemAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "score", "claimed_by", "decision")
    list_filter = ("status", "decision")
    exclude = ("scrubbed",)


@admin.register(PiiRevealAudit)
class PiiRevealAuditAdmin(admin.ModelAdmin):
    list_display = ("queue_item", "placeholder", "user", "revealed_at")
