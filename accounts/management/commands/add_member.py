import os

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Project
from accounts.services import membership_add


class Command(BaseCommand):
    help = (
        "Add a user to a project with a role, creating the user if needed (password from "
        "TRIAGE_NEW_USER_PASSWORD, else a random one printed once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Membership.Role.values)

    def handle(self, *args, project, username, role, **options):
        project_obj = Project.objects.filter(slug=project).first()
        if project_obj is None:
            raise CommandError(f"No project '{project}'.")
        from_env = os.environ.get("TRIAGE_NEW_USER_PASSWORD")
        membership, password = membership_add(
            project=project_obj, username=username, role=role, password=from_env, actor="cli"
        )
        self.stdout.write(f"{username} is {membership.role} of {project_obj.slug}")
        if password and not from_env:
            self.stdout.write(f"password: {password}  (shown once)")
