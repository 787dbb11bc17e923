from django.urls import path

from . import api

api_v1 = [
    path("webhooks", api.WebhookListApi.as_view(), name="webhooks"),
    path("webhooks/<int:pk>", api.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "webhooks/<int:pk>/deliveries",
        api.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
