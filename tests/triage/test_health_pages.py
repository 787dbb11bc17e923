"""The production-health page and the leadership overview, rendered on the server: the
charts carry their values in text, slicing works, and only members see them."""

import re

import pytest

from datasets.models import Case
from tests.factories import (
    GoldenSetFactory,
    MembershipFactory,
    health_traffic,
    queued_cluster,
    recent_base,
)
from triage import metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic(project):
    base = recent_base()
    health_traffic(project, base)
    metrics.metrics_rebuild(project=project, days=2)
    return base


def _chart(html, key):
    match = re.search(rf'<figure class="chart" id="chart-{key}".*?</figure>', html, re.S)
    assert match, f"no chart {key}"
    return match.group(0)


def test_health_page_draws_each_chart_with_its_values_in_text(client, lead, traffic):
    client.force_login(lead)

    html = client.get("/p/acme/health/?days=7").content.decode()

    assert 'id="h-traces">4<' in html and 'id="h-success">66.7 %<' in html
    assert 'id="h-p95">4,000 ms<' in html and 'id="h-cost">$0.0225<' in html
    success = _chart(html, "success")
    assert '<title id="chart-success-svgtitle">Task success rate</title>' in success
    assert 'class="legend-value">66.7 %<' in success and success.count("<polyline") == 1
    latency = _chart(html, "latency")
    assert 'data-series="p50"' in latency and 'data-series="p95"' in latency
    assert 'class="legend-value">2,000 ms<' in latency and "4,000 ms" in latency
    assert 'class="legend-value">25.0 %<' in _chart(html, "breaker")
    assert "<code>p1</code>" in html and "<code>m1</code>" in html  # versions in production
    start = html.index('id="run-types"')
    steps = html[start : html.index("</details>", start)]
    cell = r'<td class="num">([^<]+)</td>'
    rows = re.findall(rf"<tr><td>(\w+)</td>{cell}{cell}{cell}</tr>", steps)
    assert rows == [("llm", "3", "800 ms", "1,500 ms"), ("tool", "2", "100 ms", "300 ms")]


def test_health_page_sliced_by_prompt_hash_shows_the_failing_prompt(client, lead, traffic):
    client.force_login(lead)

    html = client.get("/p/acme/health/?days=7&by=prompt_hash").content.decode()

    success = _chart(html, "success")
    assert re.findall(r'data-series="([^"]+)"', success) == ["p1", "p2"]
    legend = re.findall(
        r'legend-label">([^<]+)</span> <strong class="legend-value">([^<]+)<', success
    )
    assert legend == [("p1", "50.0 %"), ("p2", "100.0 %")]
    assert 'aria-current="true">Prompt hash<' in html


def test_health_page_ignores_a_bad_window_and_slice(client, lead, traffic):
    client.force_login(lead)

    response = client.get("/p/acme/health/?days=9999&by=colour")

    assert response.status_code == 200
    assert response.context["days"] == 14 and response.context["by"] == "all"


def test_health_pages_are_for_members_only(client, project, other_project):
    outsider = MembershipFactory(project=other_project, user__username="sam").user
    client.force_login(outsider)

    assert client.get("/p/acme/health/").status_code == 404
    assert client.get("/p/acme/overview/").status_code == 404
    empty = client.get("/p/globex/health/")
    assert empty.status_code == 200 and "No data in this window yet" in empty.content.decode()


def test_overview_shows_success_cost_and_eval_coverage_by_week(client, lead, project, traffic):
    refunds = GoldenSetFactory(project=project, slug="refunds")
    item = queued_cluster(project, "wrong", traffic)
    Case.objects.create(
        golden_set=refunds, number=1, case_id="refunds-001", input={"q": "?"},
        source="thumbs-down", cluster=item.cluster, first_feedback_at=traffic,
    )  # fmt: skip
    Case.objects.create(
        golden_set=refunds, number=2, case_id="refunds-002", input={"q": "?"}, source="import"
    )
    client.force_login(lead)

    html = client.get("/p/acme/overview/").content.decode()

    assert 'id="o-success">66.7 %<' in html and 'id="o-cost">$0.0225<' in html
    assert 'id="o-cases">2<' in html and "50.0 % from production" in html
    assert 'id="o-incidents">0<' in html
    assert 'class="legend-value">66.7 %<' in _chart(html, "success")
    coverage = _chart(html, "coverage")
    assert 'data-series="refunds"' in coverage and 'class="legend-value">2<' in coverage
