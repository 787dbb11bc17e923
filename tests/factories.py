import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership, Project
from accounts.services import api_key_create
from feedback.models import FeedbackEvent, Run


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.REVIEWER


class FeedbackEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedbackEvent

    project = factory.SubFactory(ProjectFactory)
    body_hash = factory.Sequence(lambda n: f"{n:064x}")
    trace_id = factory.Sequence(lambda n: f"trace-{n}")
    rating = "down"
    category = "wrong"
    comment = "The answer was wrong"
    customer_tier = "pro"
    created_at = factory.LazyFunction(timezone.now)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    project = factory.SubFactory(ProjectFactory)
    run_id = factory.Sequence(lambda n: f"run-{n}")
    trace_id = factory.LazyAttribute(lambda o: o.run_id)
    name = "chain"
    run_type = "chain"
    inputs = factory.LazyFunction(lambda: {"question": "hi"})


def api_key_for(project, scopes=("ingest", "datasets:read")):
    _, raw = api_key_create(project=project, scopes=list(scopes))
    return raw


def queued_cluster(project, category, first_seen_at, queued_at=None, **item_fields):
    """A cluster first reported at `first_seen_at` and its queue item (pending unless told)."""
    from triage.models import Cluster, QueueItem

    cluster = Cluster.objects.create(
        project=project,
        fingerprint=f"fp-{Cluster.objects.count()}-{category}",
        category=category,
        event_count=3,
        first_seen_at=first_seen_at,
    )
    return QueueItem.objects.create(
        project=project, cluster=cluster, created_at=queued_at or first_seen_at, **item_fields
    )


class GoldenSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "datasets.GoldenSet"
        django_get_or_create = ("project", "slug")

    project = factory.SubFactory(ProjectFactory)
    slug = factory.Sequence(lambda n: f"set-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class CaseFactory(factory.Factory):
    """A working-copy case made the way the product makes them (revision 1 included)."""

    class Meta:
        model = dict  # built through the service below, not a bare row

    golden_set = factory.SubFactory(GoldenSetFactory)
    input = factory.Sequence(lambda n: {"question": f"Can <PERSON_1> refund order {n}?"})
    expected = factory.LazyFunction(lambda: {"output": "Within 30 days."})
    criteria = "Offers the 30-day refund."
    tags = factory.LazyFunction(lambda: ["billing"])
    failure_mode = "retrieval_miss"
    source = "thumbs-down-2026-11-20"
    user = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        from datasets.services import case_create

        return case_create(**kwargs)
