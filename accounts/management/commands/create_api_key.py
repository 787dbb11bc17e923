from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey, Project
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a project and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--scopes", default="ingest", help=f"comma-separated: {', '.join(ApiKey.SCOPES)}"
        )
        parser.add_argument("--name", default="")

    def handle(self, *args, project, scopes, name, **options):
        project_obj = Project.objects.filter(slug=project).first()
        if project_obj is None:
            raise CommandError(f"No project '{project}'.")
        try:
            key, raw = api_key_create(
                project=project_obj,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                name=name,
                actor="cli",
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)
        self.stderr.write(f"scopes: {', '.join(key.scopes)} — store it now; it is not shown again.")
