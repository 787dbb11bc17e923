from django.urls import path

from . import api, api_cases, langsmith, views, views_cases

app_name = "datasets"
urlpatterns = [
    path("", views.golden_set_list, name="list"),
    path("new", views.golden_set_create, name="create"),
    path("<slug:slug>/", views.golden_set_detail, name="detail"),
    path("<slug:slug>/publish", views.golden_set_publish, name="publish"),
    path("<slug:slug>/tags", views.golden_set_tag_move, name="tag_move"),
    path("<slug:slug>/import", views.golden_set_import, name="import"),
    path("<slug:slug>/diff", views.golden_set_diff, name="diff"),
    path(
        "<slug:slug>/versions/<str:ref>/cases.<str:fmt>",
        views.version_download,
        name="download",
    ),
    path("<slug:slug>/cases/<str:case_id>/", views_cases.case_detail, name="case"),
    path("<slug:slug>/cases/<str:case_id>/edit", views_cases.case_edit, name="case_edit"),
    path("<slug:slug>/cases/<str:case_id>/status", views_cases.case_status, name="case_status"),
    path("<slug:slug>/cases/<str:case_id>/split", views_cases.case_split, name="case_split"),
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
        "golden-sets/<slug:slug>/versions/<str:ref>/cases.csv",
        api.GoldenSetCasesCsvApi.as_view(),
        name="golden-set-cases-csv",
    ),
    path(
        "golden-sets/<slug:slug>/tags/<str:tag>",
        api.GoldenSetTagApi.as_view(),
        name="golden-set-tag",
    ),
    path("golden-sets/<slug:slug>/diff", api.GoldenSetDiffApi.as_view(), name="golden-set-diff"),
    path(
        "golden-sets/<slug:slug>/cases",
        api_cases.GoldenSetCaseListApi.as_view(),
        name="golden-set-working-copy",
    ),
    path(
        "golden-sets/<slug:slug>/cases/<str:case_id>",
        api_cases.GoldenSetCaseApi.as_view(),
        name="golden-set-case",
    ),
    path(
        "golden-sets/<slug:slug>/import",
        api_cases.GoldenSetImportApi.as_view(),
        name="golden-set-import",
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
