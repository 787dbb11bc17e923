from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Registers the delivery task in every process: services enqueue it by name (the
        # task module imports them), and web processes never autodiscover tasks.
        from . import tasks  # noqa: F401
