from django.urls import path

from . import api, langsmith, views

app_name = "datasets"
urlpatterns = [
    path("", views.golden_set_list, name="list"),
    path("<slug:slug>/", views.golden_set_detail, name="detail"),
    path("<slug:slug>/publish", views.golden_set_publish, name="publish"),
]

api_v1 = [
    path("golden-sets", api.GoldenSetListApi.as_view(), name="golden-sets"),
    path(
        "golden-sets/<slug:slug>/versions",
        api.GoldenSetVersionListApi.as_view(),
        name="golden-set-versions",
    ),
    path(
        "golden-sets/<slug:slug>/versions/<str:ref>/cases.jsonl",
        api.GoldenSetCasesApi.as_view(),
        name="golden-set-cases",
    ),
    path(
        "golden-sets/<slug:slug>/versions/<str:ref>/results",
        api.GoldenSetResultsApi.as_view(),
        name="golden-set-results",
    ),
]

# Golden sets as LangSmith datasets (mounted under /api/langsmith/ beside feedback's routes).
langsmith_api = [
    path("datasets", langsmith.LangSmithDatasetsApi.as_view(), name="datasets"),
    path("datasets/<str:dataset_id>", langsmith.LangSmithDatasetApi.as_view(), name="dataset"),
    path(
        "datasets/<str:dataset_id>/versions",
        langsmith.LangSmithDatasetVersionsApi.as_view(),
        name="dataset-versions",
    ),
    path(
        "datasets/<str:dataset_id>/version",
        langsmith.LangSmithDatasetVersionApi.as_view(),
        name="dataset-version",
    ),
    path("examples", langsmith.LangSmithExamplesApi.as_view(), name="examples"),
]
