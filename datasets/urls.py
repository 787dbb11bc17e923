from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("", views.golden_set_list, name="list"),
    path("<slug:slug>/", views.golden_set_detail, name="detail"),
    path("<slug:slug>/publish", views.golden_set_publish, name="publish"),
]
