from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    verbose_name = "Triage"

    def ready(self):
        from datasets.scrubbing import scrubber_register
        from datasets.signals import case_results_recorded
        from feedback.signals import feedback_committed

        from .receivers import case_results_recorded_check, feedback_committed_process
        from .scrubbing import case_values_scrub

        feedback_committed.connect(
            feedback_committed_process, dispatch_uid="triage.feedback_committed_process"
        )
        case_results_recorded.connect(
            case_results_recorded_check, dispatch_uid="triage.case_results_recorded_check"
        )
        # Curated case text (edits, imports) is scrubbed like promotion: see datasets.scrubbing.
        scrubber_register(case_values_scrub)
