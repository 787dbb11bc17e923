from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Triage"

    def ready(self):
        from feedback.signals import feedback_committed

        from .receivers import feedback_committed_process

        feedback_committed.connect(
            feedback_committed_process, dispatch_uid="triage.feedback_committed_process"
        )
