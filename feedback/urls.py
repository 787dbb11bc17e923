from django.urls import path

from . import api, langsmith, langsmith_sessions, otlp, views

app_name = "feedback"
urlpatterns = [
    path("<int:pk>", views.attachment_download, name="attachment"),
]

api_v1 = [
    path("feedback", api.FeedbackApi.as_view(), name="feedback"),
    path("traces", api.TracesApi.as_view(), name="traces"),
    path("feedback-tokens", api.FeedbackTokenCreateApi.as_view(), name="feedback-tokens"),
    path(
        "feedback-tokens/<str:token>",
        api.FeedbackWithTokenApi.as_view(),
        name="feedback-with-token",
    ),
]

langsmith_api = [
    path("info", langsmith.LangSmithInfoApi.as_view(), name="info"),
    path("runs", langsmith.LangSmithRunsApi.as_view(), name="runs"),
    path("runs/batch", langsmith.LangSmithRunsBatchApi.as_view(), name="runs-batch"),
    path("runs/multipart", langsmith.LangSmithRunsMultipartApi.as_view(), name="runs-multipart"),
    path("runs/<str:run_id>", langsmith.LangSmithRunPatchApi.as_view(), name="run"),
    path("feedback", langsmith.LangSmithFeedbackApi.as_view(), name="feedback"),
    path("sessions", langsmith_sessions.LangSmithSessionsApi.as_view(), name="sessions"),
    path(
        "sessions/<str:session_id>",
        langsmith_sessions.LangSmithSessionApi.as_view(),
        name="session",
    ),
]

# OTLP/HTTP exporters post to <endpoint>/v1/traces by default.
otlp_api = [path("v1/traces", otlp.OtlpTracesApi.as_view(), name="otlp-traces")]
