import hashlib
import hmac
import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Membership
from datasets import services as dataset_services
from feedback import services as feedback_services
from feedback.enqueue import processing_flush
from triage import demo_data, job, services
from triage.models import QueueItem

DEMO_PASSWORD = "triage-demo"


def demo_api_key():
    """Stable per install (derived from the secret key), so re-seeding prints the same key."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), b"seed_demo api key", hashlib.sha256
    ).hexdigest()
    return f"tri_demo_{digest[:32]}"


class Command(BaseCommand):
    help = "Idempotently seed the demo project: users, an API key, traces, feedback, a golden set."

    def handle(self, *args, **options):
        project = account_services.project_get_or_create(slug="demo", name="Demo: support bots")
        lead = self._user("lead", project, Membership.Role.LEAD)
        self._user("reviewer", project, Membership.Role.REVIEWER)
        _, raw_key = account_services.api_key_create(
            project=project,
            scopes=["ingest", "datasets:read"],
            name="demo",
            raw_key=demo_api_key(),
            actor="cli",
        )

        now = timezone.now()
        for index, (question, answer) in enumerate(demo_data.REFUND_QUESTIONS):
            _, runs = demo_data.refund_trace(
                index, question, answer, now - timedelta(hours=31 - index)
            )
            feedback_services.runs_upsert(project=project, runs=self._validated_runs(runs))
        _, runs = demo_data.agent_trace(now - timedelta(hours=21))
        feedback_services.runs_upsert(project=project, runs=self._validated_runs(runs))
        feedback_services.feedback_ingest_many(
            project=project, raw_events=demo_data.feedback_events(now)
        )
        processing_flush(timeout=300)  # embedded, a thread processes them: as before, in order

        job.triage_job_execute(project=project)
        self._curate_refunds(project, lead)

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"  # bin/serve's PORT
        self.stdout.write(
            f"  Log in:   {base}/  as  lead / {DEMO_PASSWORD}  (or reviewer / {DEMO_PASSWORD})"
        )
        self.stdout.write(f"  API key:  {raw_key}   (scopes: ingest, datasets:read)")
        self.stdout.write(
            "  CI pull:  curl -H 'Authorization: Bearer <key>' "
            f"{base}/api/v1/golden-sets/refunds/versions/latest/cases.jsonl"
        )

    def _user(self, username, project, role):
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        if role == Membership.Role.LEAD:
            user.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
        return user

    def _validated_runs(self, runs):
        from feedback.serializers import TracesInput

        payload = TracesInput(data={"runs": runs})
        payload.is_valid(raise_exception=True)
        return payload.validated_data["runs"]

    def _curate_refunds(self, project, lead):
        """Review the refund cluster and publish `refunds` v1, as a lead would in the browser."""
        golden_set = dataset_services.golden_set_get_or_create(
            project=project, name="Refunds", slug="refunds"
        )
        if golden_set.versions.exists():
            return
        item = (
            QueueItem.objects.filter(project=project, cluster__category="billing")
            .order_by("-cluster__event_count")
            .first()
        )
        if item.decision != QueueItem.Decision.ADD_TO_EVAL:
            services.queue_item_claim(item=item, user=lead)  # labelling needs the lease
            item = services.queue_item_label(
                item=item,
                user=lead,
                version=item.version,
                decision=QueueItem.Decision.ADD_TO_EVAL,
                failure_modes=["retrieval_miss"],
                criteria="Cites the 30-day refund policy and offers to start the refund; "
                "never claims refunds are impossible for an eligible order.",
                expected_output="Orders can be refunded within 30 days of delivery. "
                "I can start the refund for you now.",
            )
        services.queue_item_promote(item=item, golden_set=golden_set, user=lead)
        dataset_services.golden_set_version_publish(
            golden_set=golden_set, user=lead, notes="First refund regression cases.", tags=["prod"]
        )
