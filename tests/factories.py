"""Rows of every app for tests, in one place: factory_boy factories, and builders of the
richer states tests share (a queue item with its evidence, a scrubbed reviewer view)."""

from datetime import timedelta
from decimal import Decimal

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


# --- production health: a small known mix of traffic (tests/triage/test_metrics.py) ---


def _run(project, trace, start, ms, *, parent="", run_type="chain", **fields):
    return RunFactory(
        project=project,
        run_id=f"{trace}-{run_type}-{fields.pop('n', 0)}" if parent else trace,
        trace_id=trace,
        parent_run_id=parent,
        run_type=run_type,
        start_time=start,
        end_time=start + timedelta(milliseconds=ms),
        outputs=fields.pop("outputs", {"answer": "ok"}),
        **fields,
    )


def health_traffic(project, base):
    """Four production traces starting at `base` (+ noise that must not count):

    t1 p1/m1  1000 ms, llm 600 ms $0.01 100 tok, thumbs up (pro)       → success
    t2 p1     2000 ms, llm 800 ms $0.02 200 tok (gpt-4o), two identical tool calls, one
              failing; empty answer; thumbs down (free)                 → judged, failed
    t3 p2     3000 ms, llm 1500 ms $0.03 300 tok (claude) stopped at max tokens, judge 0.9,
              a parser error                                            → success
    t4 p2     4000 ms, the circuit breaker opened (root error), no signal → not judged
    """
    at = lambda s: base + timedelta(seconds=s)  # noqa: E731
    _run(project, "t1", at(0), 1000, metadata={"prompt_hash": "p1", "model_id": "m1"})
    _run(project, "t1", at(0.1), 600, parent="t1", run_type="llm", model="gpt-4o",
         total_cost=Decimal("0.01"), total_tokens=100)  # fmt: skip
    FeedbackEventFactory(project=project, trace_id="t1", rating="up", customer_tier="pro")

    _run(project, "t2", at(10), 2000, metadata={"prompt_hash": "p1"}, outputs=None)
    _run(project, "t2", at(10.1), 800, parent="t2", run_type="llm", model="gpt-4o",
         total_cost=Decimal("0.02"), total_tokens=200)  # fmt: skip
    for n, error in ((1, ""), (2, "ToolError: lookup failed")):
        _run(project, "t2", at(11), 100 * (2 * n - 1), parent="t2", run_type="tool", n=n,
             name="lookup", inputs={"order": 7}, error=error)  # fmt: skip
    FeedbackEventFactory(project=project, trace_id="t2", rating="down", customer_tier="free")

    _run(project, "t3", at(20), 3000, metadata={"prompt_hash": "p2"})
    _run(project, "t3", at(20.1), 1500, parent="t3", run_type="llm", model="claude",
         total_cost=Decimal("0.03"), total_tokens=300, stop_reason="length",
         metadata={"judge_score": 0.9})  # fmt: skip
    _run(project, "t3", at(21.7), 5, parent="t3", run_type="parser",
         error="JSONDecodeError: Expecting value")  # fmt: skip

    _run(project, "t4", at(30), 4000, metadata={"prompt_hash": "p2"},
         error="CircuitBreakerOpen: circuit breaker open")  # fmt: skip

    # Not production traffic of this bucket: an experiment, another project, days before.
    _run(project, "x1", at(40), 9000, metadata={"prompt_hash": "p1"}, reference_example_id="e1")
    FeedbackEventFactory(project=project, trace_id="x1", rating="down")
    _run(ProjectFactory(slug="globex"), "g1", at(0), 9000, metadata={"prompt_hash": "p1"})
    _run(project, "old", base - timedelta(days=3), 9000, metadata={"prompt_hash": "p1"})


def recent_base():
    """Ten past the hour two hours ago: one hourly and one daily bucket hold health_traffic."""
    hour = (timezone.now() - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    return hour + timedelta(minutes=10)


def prompt_traffic(project, start, *, prompt_hash, traces, thumbs_down, tag="t"):
    """`traces` root runs of one prompt a minute apart from `start`, the first
    `thumbs_down` of them thumbed down (with session and model, as apps send them)."""
    for i in range(traces):
        trace = f"{tag}-{prompt_hash}-{start:%H%M}-{i}"
        at = start + timedelta(minutes=i)
        RunFactory(
            project=project, run_id=trace, trace_id=trace, start_time=at,
            end_time=at + timedelta(seconds=1), outputs={"answer": "ok"},
            metadata={"prompt_hash": prompt_hash, "session_id": f"s-{trace}"}, model="gpt-4o",
        )  # fmt: skip
        if i < thumbs_down:
            FeedbackEventFactory(
                project=project, trace_id=trace, session_id=f"s-{trace}", rating="down",
                prompt_hash=prompt_hash, model_id="gpt-4o", created_at=at,
            )  # fmt: skip
