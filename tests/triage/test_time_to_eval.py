"""Time-to-eval across a project: the API CI/dashboards read and the page leads look at."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from datasets.models import Case, CaseResult, GoldenSet, GoldenSetVersion, ResultsRun
from tests.factories import ProjectFactory, api_key_for, queued_cluster

pytestmark = pytest.mark.django_db


def _hours_ago(h):
    # Now, not import time: the page shows hours left to one decimal.
    return timezone.now() - timedelta(hours=h)


def _item(
    project, category, first_seen_h, queued_h, status="pending", decision="", labelled_h=None
):
    return queued_cluster(
        project,
        category,
        _hours_ago(first_seen_h),
        queued_at=_hours_ago(queued_h),
        status=status,
        decision=decision,
        labelled_at=_hours_ago(labelled_h) if labelled_h is not None else None,
    )


def _published_case(golden_set, category, hours):
    """hours = (first complaint, queued, labelled, promoted, published), as hours ago."""
    first, queued, labelled, promoted, published = hours
    item = _item(golden_set.project, category, first, queued, "labelled", "add_to_eval", labelled)
    number = golden_set.cases.count() + 1
    return Case.objects.create(
        golden_set=golden_set,
        number=number,
        case_id=f"{golden_set.slug}-{number:03d}",
        input={"question": "<PERSON_1> asked"},
        source="thumbs-down-2026-11-20",
        tags=[category, "p0"] if category in ("billing", "unsafe") else [category],
        cluster=item.cluster,
        queue_item=item,
        first_feedback_at=item.cluster.first_seen_at,
        created_at=_hours_ago(promoted),
        first_published_at=_hours_ago(published),
    )


@pytest.fixture
def history(project):
    """Three cases published this month (one P0 missed its 72 h), one long ago, and the
    P0 complaints still on their way."""
    refunds = GoldenSet.objects.create(project=project, slug="refunds", name="Refunds")
    _published_case(refunds, "wrong", (50, 40, 30, 20, 10))  # 40 h
    # 80 h, P0 late; its item (labelled add-to-eval) is not "open": its case is published.
    _published_case(refunds, "billing", (100, 99, 98, 97, 20))
    _published_case(refunds, "unsafe", (30, 29, 28, 27, 5))  # 25 h, P0 in time
    _published_case(refunds, "wrong", (1200, 1190, 1180, 1170, 1000))  # 41 days ago
    # Elsewhere: another project's case never counts.
    globex = GoldenSet.objects.create(project=ProjectFactory(slug="globex"), slug="g", name="G")
    _published_case(globex, "billing", (500, 400, 300, 200, 2))

    overdue = _item(project, "unsafe", 80, 79)
    waiting = _item(project, "billing", 10, 9, "labelled", "add_to_eval", 8)
    _item(project, "billing", 20, 19, "labelled", "expected_behaviour", 18)  # not for an eval
    _item(project, "wrong", 90, 89)  # not P0
    return {"overdue": overdue, "waiting": waiting}


def test_api_reports_time_to_eval_per_stage_and_the_open_p0_clock(project, history):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    # CI proved the first case 4 h ago (published 10 h ago): 6 h from publish to a pass.
    refunds = GoldenSet.objects.get(project=project, slug="refunds")
    version = GoldenSetVersion.objects.create(
        golden_set=refunds, number=1, digest="sha256:" + "0" * 64, case_count=3, body=""
    )
    run = ResultsRun.objects.create(golden_set=refunds, version=version, commit="abc123")
    CaseResult.objects.create(
        results_run=run, case_id="refunds-001", passed=True, created_at=_hours_ago(4)
    )

    body = client.get("/api/v1/time-to-eval").json()

    assert body["published_cases"] == 3 and body["sla_hours"] == 72
    assert body["median_hours"] == pytest.approx(40, abs=0.01)
    assert body["p90_hours"] == pytest.approx(80, abs=0.01)
    assert (body["p0_cases"], body["p0_within_sla"]) == (2, 1)
    medians = {s["stage"]: round(s["median_hours"], 2) for s in body["stages"]}
    assert medians == {"triage": 1, "review": 1, "promote": 1, "publish": 22, "prove": 6}
    assert [s["cases"] for s in body["stages"]] == [3, 3, 3, 3, 1]
    assert body["open_p0_total"] == 2
    open_p0 = [
        (c["item_id"], c["category"], c["status"], round(c["hours_left"])) for c in body["open_p0"]
    ]
    assert open_p0 == [
        (history["overdue"].pk, "unsafe", "pending", -8),
        (history["waiting"].pk, "billing", "labelled", 62),
    ]  # fmt: skip

    longer = client.get("/api/v1/time-to-eval", {"days": 90}).json()
    assert longer["published_cases"] == 4 and longer["max_hours"] == pytest.approx(200, abs=0.01)


@pytest.mark.parametrize("days", ["0", "366", "soon"])
def test_api_refuses_a_bad_window_naming_the_field(project, days):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})
    response = client.get("/api/v1/time-to-eval", {"days": days})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["days"]


def test_api_needs_the_datasets_read_scope(project):
    client = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['ingest'])}"})
    response = client.get("/api/v1/time-to-eval")
    assert response.status_code == 403 and response.json()["error"]


def test_page_shows_the_figures_and_links_each_open_p0(client, project, lead, history):
    client.force_login(lead)
    waiting = history["waiting"]
    waiting.scrubbed = {"comments": [{"text": "Bot said <b>mix</b> bleach for <PERSON_1>"}]}
    waiting.save()

    page = client.get(f"/p/{project.slug}/time-to-eval/").content.decode()

    assert '<span class="stat-n" id="tte-cases">3</span>' in page
    assert '<span class="stat-n" id="tte-median">40.0 h</span>' in page
    assert '<span class="stat-n" id="tte-p0">1 / 2</span>' in page
    assert f'href="/p/{project.slug}/items/{history["overdue"].pk}/"' in page
    # Each open P0 by its scrubbed complaint (escaped), not only by its number.
    assert f'{waiting.pk}/">Bot said &lt;b&gt;mix&lt;/b&gt; bleach for <mark class="pii"' in page

    assert "8.0 h over" in page and "62.0 h left" in page
    assert '<span class="count" id="open-p0-total">2</span>' in page
    assert 'aria-current="page">30 days' in page

    year = client.get(f"/p/{project.slug}/time-to-eval/", {"days": "365"}).content.decode()
    assert '<span class="stat-n" id="tte-cases">4</span>' in year


def test_page_is_only_for_members(client, project, history):
    from tests.factories import MembershipFactory

    outsider = MembershipFactory(project=ProjectFactory(slug="other")).user
    client.force_login(outsider)
    assert client.get(f"/p/{project.slug}/time-to-eval/").status_code == 404


def _open_p0s(project, n):
    """n open P0 complaints, bulk-created (a cap test needs more than a thousand)."""
    from triage.models import Cluster, QueueItem

    seen = _hours_ago(5)
    clusters = Cluster.objects.bulk_create(
        Cluster(project=project, fingerprint=f"p0-{i}", category="unsafe", first_seen_at=seen)
        for i in range(n)
    )
    QueueItem.objects.bulk_create(QueueItem(project=project, cluster=c) for c in clusters)
    return clusters


def test_open_p0_count_is_exact_up_to_the_cap_and_1000_plus_above(client, project, lead):
    clusters = _open_p0s(project, 1001)
    client.force_login(lead)
    api = Client(headers={"Authorization": f"Bearer {api_key_for(project, ['datasets:read'])}"})

    page = client.get(f"/p/{project.slug}/time-to-eval/").content.decode()
    assert '<span class="count" id="open-p0-total">1,000+</span>' in page
    body = api.get("/api/v1/time-to-eval").json()
    assert (body["open_p0_total"], body["open_p0_total_capped"], len(body["open_p0"])) == (
        1000,
        True,
        50,
    )

    clusters[0].delete()  # exactly at the cap: exact, no "+"
    page = client.get(f"/p/{project.slug}/time-to-eval/").content.decode()
    assert '<span class="count" id="open-p0-total">1000</span>' in page
    body = api.get("/api/v1/time-to-eval").json()
    assert (body["open_p0_total"], body["open_p0_total_capped"]) == (1000, False)
