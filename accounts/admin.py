from django.contrib import admin
from django.db import transaction

from . import services
from .auth import revocations
from .models import ApiKey, AuditEntry, Membership, Project


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


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by audit_record alone, never edited."""

    list_display = ("at", "project", "actor", "action", "target_type", "target_id", "ip")
    list_filter = ("action", "project")
    search_fields = ("actor", "target_id")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
