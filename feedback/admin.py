from django.contrib import admin

from .models import FeedbackEvent, Run


@admin.register(FeedbackEvent)
class FeedbackEventAdmin(admin.ModelAdmin):
    # Raw comments are production text: the admin shows metadata only.
    list_display = (
        "id",
        "project",
        "category",
        "rating",
        "customer_tier",
        "received_at",
        "processed_at",
    )
    list_filter = ("category", "rating", "source")
    fields = (
        "project",
        "client_id",
        "trace_id",
        "category",
        "rating",
        "score",
        "customer_tier",
        "received_at",
        "processed_at",
        "cluster",
    )
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("run_id", "trace_id", "name", "run_type", "start_time")
    fields = (
        "project",
        "run_id",
        "trace_id",
        "parent_run_id",
        "name",
        "run_type",
        "start_time",
        "end_time",
    )
    readonly_fields = fields
