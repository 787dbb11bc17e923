from django.urls import path

from . import api, views

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
]
