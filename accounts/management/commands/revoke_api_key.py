from django.core.management.base import BaseCommand, CommandError

from accounts.auth import api_key_hash
from accounts.models import ApiKey
from accounts.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key (the key itself or its 12-character prefix); takes effect at once."

    def add_arguments(self, parser):
        parser.add_argument("key", help="the raw key, or the prefix shown in the admin")

    def handle(self, *args, key, **options):
        if len(key) > 12:
            keys = list(ApiKey.objects.filter(key_hash=api_key_hash(key)))
        elif len(key) >= 8:  # a prefix: never guess between several keys
            keys = list(ApiKey.objects.filter(prefix__startswith=key)[:2])
        else:
            raise CommandError("Pass the key or at least 8 characters of its prefix.")
        if len(keys) != 1:
            found = "No key matches" if not keys else "Several keys match"
            raise CommandError(f"{found} '{key[:12]}'; pass the full key.")
        revoked = api_key_revoke(key=keys[0], actor="cli")
        self.stdout.write(f"revoked {revoked.prefix}… at {revoked.revoked_at.isoformat()}")
