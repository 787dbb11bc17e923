from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.audit_log, name="audit_log"),
    path("export.csv", views.audit_export, {"fmt": "csv"}, name="audit_export_csv"),
    path("export.jsonl", views.audit_export, {"fmt": "jsonl"}, name="audit_export_jsonl"),
]
