from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from datasets import api as datasets_api
from datasets import views as datasets_views
from feedback import api as feedback_api
from feedback import langsmith, otlp

from . import health

api_v1 = [
    path("feedback", feedback_api.FeedbackApi.as_view(), name="feedback"),
    path("traces", feedback_api.TracesApi.as_view(), name="traces"),
    path("feedback-tokens", feedback_api.FeedbackTokenCreateApi.as_view(), name="feedback-tokens"),
    path(
        "feedback-tokens/<str:token>",
        feedback_api.FeedbackWithTokenApi.as_view(),
        name="feedback-with-token",
    ),
    path("erasures", feedback_api.UserErasureApi.as_view(), name="erasures"),
    path("time-to-eval", datasets_api.TimeToEvalApi.as_view(), name="time-to-eval"),
    path("webhooks", datasets_api.WebhookListApi.as_view(), name="webhooks"),
    path("webhooks/<int:pk>", datasets_api.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "webhooks/<int:pk>/deliveries",
        datasets_api.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path("golden-sets", datasets_api.GoldenSetListApi.as_view(), name="golden-sets"),
    path(
        "golden-sets/<slug:slug>/versions",
        datasets_api.GoldenSetVersionListApi.as_view(),
        name="golden-set-versions",
    ),
    path(
        "golden-sets/<slug:slug>/versions/<str:ref>/cases.jsonl",
        datasets_api.GoldenSetCasesApi.as_view(),
        name="golden-set-cases",
    ),
]

# LangSmith SDK wire compatibility: LANGSMITH_ENDPOINT=<host>/api/langsmith
langsmith_api = [
    path("info", langsmith.LangSmithInfoApi.as_view(), name="info"),
    path("runs", langsmith.LangSmithRunsApi.as_view(), name="runs"),
    path("runs/batch", langsmith.LangSmithRunsBatchApi.as_view(), name="runs-batch"),
    path("runs/multipart", langsmith.LangSmithRunsMultipartApi.as_view(), name="runs-multipart"),
    path("runs/<str:run_id>", langsmith.LangSmithRunPatchApi.as_view(), name="run"),
    path("feedback", langsmith.LangSmithFeedbackApi.as_view(), name="feedback"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    path("api/langsmith/", include((langsmith_api, "langsmith"))),
    path("v1/traces", otlp.OtlpTracesApi.as_view(), name="otlp-traces"),  # OTLP/HTTP default path
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("p/<slug:project_slug>/golden-sets/", include("datasets.urls")),
    path("p/<slug:project_slug>/attachments/", include("feedback.urls")),
    path("p/<slug:project_slug>/time-to-eval/", datasets_views.time_to_eval, name="time-to-eval"),
    path("", include("triage.reviewer_urls")),
]

handler404 = "feedback.errors.handler404"
handler500 = "feedback.errors.handler500"
