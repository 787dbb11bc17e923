from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from accounts.services import project_get_or_create


class Command(BaseCommand):
    help = "Create a project (idempotent: an existing slug is left as it is)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        if slugify(slug) != slug:
            raise CommandError(f"'{slug}' is not a slug (lowercase letters, digits, '-', '_').")
        project = project_get_or_create(slug=slug, name=name)
        self.stdout.write(f"project {project.slug} ({project.name})")
