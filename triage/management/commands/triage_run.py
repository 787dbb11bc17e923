from django.core.management.base import BaseCommand, CommandError

from accounts.models import Project
from triage.job import drift_check, triage_job_execute
from triage.models import triage_run_summary_text


class Command(BaseCommand):
    help = "Run the triage job now (flag, cluster, rank, enqueue, scrub): the nightly job's code."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: every project)")
        parser.add_argument(
            "--no-scrub", action="store_true", help="skip Presidio scrubbing (benchmarks)"
        )
        parser.add_argument("--drift", action="store_true", help="also run the weekly drift check")

    def handle(self, *args, project=None, no_scrub=False, drift=False, **options):
        projects = Project.objects.all()
        if project:
            projects = projects.filter(slug=project)
            if not projects.exists():
                raise CommandError(f"No project '{project}'.")
        for p in projects.order_by("slug"):
            summary = triage_job_execute(project=p, scrub=not no_scrub)
            self.stdout.write(f"{p.slug}: {triage_run_summary_text(summary)}")
            if drift:
                result = drift_check(project=p)
                self.stdout.write(
                    f"{p.slug}: {result['drifting']} drifting clusters, "
                    f"{result['queued']} samples queued"
                )
