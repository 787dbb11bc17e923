"""Rows of every app for tests, in one place: factory_boy factories, and builders of the
richer states tests share (a queue item with its evidence, a scrubbed reviewer view)."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership, Project
from accounts.services import api_key_create
from feedback.models import FeedbackEvent, Run
from triage.facets import cluster_facets_refresh
from triage.models import Cluster, QueueItem


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


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    project = factory.SubFactory(ProjectFactory)
    fingerprint = factory.Sequence(lambda n: f"fp-{n}")
    category = "wrong"
    event_count = 1


class QueueItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueItem

    cluster = factory.SubFactory(ClusterFactory)
    project = factory.SelfAttribute("cluster.project")


def api_key_for(project, scopes=("ingest", "datasets:read")):
    _, raw = api_key_create(project=project, scopes=list(scopes))
    return raw


def queued_cluster(project, category, first_seen_at, queued_at=None, **item_fields):
    """A cluster first reported at `first_seen_at` and its queue item (pending unless told)."""
    cluster = ClusterFactory(
        project=project, category=category, event_count=3, first_seen_at=first_seen_at
    )
    return QueueItemFactory(
        project=project, cluster=cluster, created_at=queued_at or first_seen_at, **item_fields
    )


XSS_COMMENT = "<script>window.__xss=1</script> refund <EMAIL_ADDRESS_1> broken"
XSS_DOC = '<img src=x onerror="window.__xss=2"> gift cards cannot be refunded'


def scrubbed_view(comment=XSS_COMMENT, model_id="gpt-4o-mini", prompt_hash="ph-1"):
    t = "2026-11-20T10:00:0{}+00:00"
    return {
        "comments": [
            {
                "text": comment,
                "created_at": "2026-11-20T10:01:00+00:00",
                "tier": "enterprise",
                "model_id": model_id,
                "prompt_hash": prompt_hash,
                "trace_id": "t1",
                "source": "explicit",
            }
        ],
        "traces": [
            {
                "trace_id": "t1",
                "runs": [
                    {
                        "run_id": "t1",
                        "parent_run_id": "",
                        "name": "refund_bot",
                        "run_type": "chain",
                        "inputs": {"question": "Refund for <PERSON_1>?"},
                        "outputs": {"answer": "No."},
                        "error": "",
                        "start_time": t.format(0),
                        "end_time": t.format(3),
                        "duration_ms": 3000.0,
                        "prompt_tokens": None,
                        "completion_tokens": None,
                        "total_cost": None,
                    },
                    {
                        "run_id": "t1-r",
                        "parent_run_id": "t1",
                        "name": "policy_search",
                        "run_type": "retriever",
                        "inputs": {"query": "refund"},
                        "outputs": {
                            "documents": [
                                {"page_content": XSS_DOC, "metadata": {"source": "gift.md"}}
                            ]
                        },
                        "error": "",
                        "start_time": t.format(0),
                        "end_time": t.format(1),
                        "duration_ms": 1000.0,
                        "prompt_tokens": None,
                        "completion_tokens": None,
                        "total_cost": None,
                    },
                    {
                        "run_id": "t1-llm",
                        "parent_run_id": "t1",
                        "name": "gpt-4o-mini",
                        "run_type": "llm",
                        "inputs": {
                            "messages": [
                                {"role": "system", "content": "Use only the documents."},
                                {"role": "user", "content": "Refund for <PERSON_1>?"},
                            ]
                        },
                        "outputs": {"content": "No."},
                        "error": "RateLimitError: <b>slow down</b>",
                        "start_time": t.format(1),
                        "end_time": t.format(3),
                        "duration_ms": 2000.0,
                        "prompt_tokens": 412,
                        "completion_tokens": 31,
                        "total_cost": "0.00008",
                    },
                ],
            }
        ],
    }


def make_item(project, *, category="billing", tier="enterprise", score=5.0, status="pending", **kw):
    """A queue item as a reviewer meets it: its cluster, one complaint, a scrubbed view."""
    now = timezone.now()
    cluster = ClusterFactory(
        project=project,
        category=category,
        event_count=3,
        top_tier=tier,
        first_seen_at=now - timedelta(hours=10),
        last_seen_at=now - timedelta(hours=1),
        score=score,
        score_breakdown={"score": score, "reports": 3, "tier": tier, "severity": "p0"},
    )
    FeedbackEventFactory(
        project=project,
        cluster=cluster,
        model_id=kw.pop("model_id", "gpt-4o-mini"),
        prompt_hash=kw.pop("prompt_hash", "ph-1"),
    )
    cluster_facets_refresh(cluster_ids=[cluster.pk])  # what clustering does after assigning
    return QueueItemFactory(
        project=project,
        cluster=cluster,
        score=score,
        status=status,
        scrubbed=kw.pop("scrubbed", None) or scrubbed_view(),
        **kw,
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
