from django.urls import path

from . import views

app_name = "feedback"
urlpatterns = [
    path("<int:pk>", views.attachment_download, name="attachment"),
]
