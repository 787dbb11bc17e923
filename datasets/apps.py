from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = "Golden sets"

    def ready(self):
        from feedback.signals import experiment_progressed

        from .receivers import experiment_progressed_refresh

        experiment_progressed.connect(
            experiment_progressed_refresh, dispatch_uid="datasets.experiment_progressed_refresh"
        )
