from django.contrib import admin

from .models import Case, GoldenSet, GoldenSetVersion


@admin.register(GoldenSet)
class GoldenSetAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "project")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("case_id", "golden_set", "status", "revision", "split", "first_published_at")

    def has_change_permission(self, request, obj=None):
        # Edits go through datasets.services.case_update: a new revision, PII re-scrubbed.
        return False


@admin.register(GoldenSetVersion)
class GoldenSetVersionAdmin(admin.ModelAdmin):
    list_display = ("golden_set", "number", "digest", "case_count", "published_at")
    exclude = ("body",)

    def has_change_permission(self, request, obj=None):
        return False  # published versions are immutable
