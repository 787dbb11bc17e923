"""Root URLs: each app lists its own pages (`urlpatterns`) and public API (`api_v1`)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from datasets import urls as datasets_urls
from feedback import urls as feedback_urls
from triage import urls as triage_urls
from webhooks import urls as webhooks_urls

from . import health, prometheus

# Swagger UI's page has a fixed <style> block (drf-spectacular's template); its script is
# served as a file by the split view, so only style-src is widened, and only here.
api_docs = csp_update({"style-src": [UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

api_v1 = feedback_urls.api_v1 + triage_urls.api_v1 + datasets_urls.api_v1 + webhooks_urls.api_v1

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    # LangSmith SDK wire compatibility: LANGSMITH_ENDPOINT=<host>/api/langsmith
    path(
        "api/langsmith/",
        include((feedback_urls.langsmith_api + datasets_urls.langsmith_api, "langsmith")),
    ),
    *feedback_urls.otlp_api,
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    # Pages link the icon; this answers browsers and tools that ask the old way.
    path(
        "favicon.ico",
        RedirectView.as_view(url=f"/{settings.STATIC_URL.lstrip('/')}triage/favicon.svg"),
    ),
    path("metrics", prometheus.metrics, name="prometheus-metrics"),
    path(settings.TRIAGE_ADMIN_PATH, admin.site.urls),
    path("audit/", include("accounts.urls")),
    path("p/<slug:project_slug>/golden-sets/", include("datasets.urls")),
    path("p/<slug:project_slug>/attachments/", include("feedback.urls")),
    path("", include("triage.urls")),
]

handler404 = "accounts.errors.handler404"
handler500 = "accounts.errors.handler500"
