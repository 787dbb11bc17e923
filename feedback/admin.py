from django.contrib import admin
from django.db import transaction

from . import services
from .auth import revocations
from .models import ApiKey, FeedbackEvent, Membership, Project, Run


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role")
    list_filter = ("role",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "project", "scopes", "created_at", "revoked_at")
    readonly_fields = ("key_hash",)
    actions = ["revoke"]

    @admin.action(description="Revoke selected keys now")
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(key=key)

    # Editing revoked_at or deleting a key must reach the other processes' key caches too.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "revoked_at" in form.changed_data or "scopes" in form.changed_data:
            transaction.on_commit(revocations.announce)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(revocations.announce)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(revocations.announce)


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
