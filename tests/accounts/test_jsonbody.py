"""Hostile JSON nesting: every place a request's JSON is parsed answers 400 naming the
field (never a RecursionError 500), and non-finite numbers are refused the same way."""

import json

import pytest
import zstandard
from django.test import Client, override_settings

from accounts.jsonbody import JsonInvalid, json_parse, text_depth_path, value_depth
from datasets import services as dataset_services
from datasets.models import Case, ResultsRun
from feedback.models import FeedbackEvent, Run
from tests.factories import CaseFactory, GoldenSetFactory, api_key_for
from triage.models import Incident
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

DEEP = 1200  # past Python's recursion limit: a 500 before the cap existed


def nested(depth, leaf="x"):
    """{"a": {"a": … leaf}} as text, built without recursion."""
    return '{"a": ' * depth + json.dumps(leaf) + "}" * depth


def test_depth_is_measured_on_the_value_and_the_text_names_the_path():
    text = '{"events": [{"metadata": ' + nested(70) + "}]}"
    assert text_depth_path(text, 64)[:3] == ["events", 0, "metadata"]
    with pytest.raises(JsonInvalid) as exc:
        json_parse(text)
    assert exc.value.code == "too_deep" and exc.value.field == "events[0].metadata"
    # Brackets inside strings are text, not nesting.
    assert json_parse(json.dumps({"s": "[" * 500})) == {"s": "[" * 500}
    assert value_depth(json_parse(nested(64))) == 64
    with pytest.raises(JsonInvalid):
        json_parse("[" + nested(64) + "]")
    assert value_depth(json.loads("[[[1]], {}]")) == 3
    assert value_depth(json.loads("[[[1]], {}]"), limit=1) == 2  # stops past the limit
    assert value_depth("x") == 0 and value_depth([]) == 1


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}', '{"x": 1e999}'])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(JsonInvalid) as exc:
        json_parse(text)
    assert exc.value.code == "malformed_body"


@pytest.fixture
def keyed(project):
    key = api_key_for(project, ["ingest", "datasets:read", "admin", "results:write"])
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def golden(project, lead):
    golden_set = GoldenSetFactory(project=project, slug="refunds")
    case = CaseFactory(golden_set=golden_set)
    dataset_services.golden_set_version_publish(golden_set=golden_set, user=lead, tags=["prod"])
    return case


def _feedback_token(keyed):
    response = keyed.post(
        "/api/v1/feedback-tokens", {"trace_id": "tr-1"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["url"]


def _endpoints(keyed, golden):
    """(method, path, body text, the field the 400 must name) for every JSON endpoint."""
    deep = nested(DEEP)
    case = f"/api/v1/golden-sets/refunds/cases/{golden.case_id}"
    return [
        ("post", "/api/v1/feedback", '{"id": "f", "rating": "down", "metadata": ' + deep + "}",
         "metadata"),
        ("post", "/api/v1/feedback", '{"events": [{"id": "f", "metadata": ' + deep + "}]}",
         "events[0].metadata"),
        ("post", "/api/v1/traces", '{"runs": [{"id": "r", "inputs": ' + deep + "}]}",
         "runs[0].inputs"),
        ("post", "/api/langsmith/runs", '{"id": "r", "inputs": ' + deep + "}", "inputs"),
        ("post", "/api/langsmith/runs/batch", '{"post": [{"id": "r", "outputs": ' + deep + "}]}",
         "post[0].outputs"),
        ("patch", "/api/langsmith/runs/r1", '{"outputs": ' + deep + "}", "outputs"),
        ("post", "/api/langsmith/feedback", '{"run_id": "r", "score": 0, "extra": ' + deep + "}",
         "extra"),
        ("post", _feedback_token(keyed), '{"rating": "down", "metadata": ' + deep + "}",
         "metadata"),
        ("patch", case, '{"input": ' + deep + "}", "input"),
        ("post", "/api/v1/incidents", '{"title": "t", "severity": "sev2", "impact": ' + deep + "}",
         "impact"),
        ("post", "/api/v1/golden-sets/refunds/versions/prod/results",
         '{"commit": "c", "results": [{"case_id": "x", "passed": true, "details": ' + deep + "}]}",
         "results[0].details"),
        ("post", "/api/v1/webhooks", '{"url": "https://h.example.com", "events": ' + deep + "}",
         "events"),
        ("post", "/api/v1/golden-sets", '{"slug": "s", "name": ' + deep + "}", "name"),
    ]  # fmt: skip


def test_every_json_endpoint_answers_deep_nesting_with_a_400_naming_the_field(keyed, golden):
    for method, path, body, field in _endpoints(keyed, golden):
        response = getattr(keyed, method)(path, body, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code, response.content[:300])
        answer = response.json()
        assert answer["error"] == "too_deep", (path, answer)
        assert list(answer["fields"]) == [field], (path, answer)
        assert "64 levels" in answer["fields"][field][0]
    assert not FeedbackEvent.objects.exists() and not Run.objects.exists()
    assert not Incident.objects.exists() and not WebhookEndpoint.objects.exists()
    assert not ResultsRun.objects.exists()
    assert Case.objects.get(pk=golden.pk).revision == golden.revision


def test_nan_in_a_body_is_a_400_not_a_500(keyed):
    body = '{"id": "f", "trace_id": "t", "rating": "down", "metadata": {"x": NaN}}'
    response = keyed.post("/api/v1/feedback", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "malformed_body"
    assert not FeedbackEvent.objects.exists()


def test_nesting_under_the_cap_is_stored_whole(keyed, project):
    body = '{"id": "f", "trace_id": "t", "rating": "down", "metadata": ' + nested(60) + "}"
    response = keyed.post("/api/v1/feedback", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert value_depth(FeedbackEvent.objects.get(project=project).metadata) == 60


def _multipart(parts):
    boundary = "b0undary"
    out = b""
    for name, data in parts:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                "Content-Type: application/json\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_deep_multipart_part_zstd_compressed_is_a_400_naming_the_part(keyed):
    run = json.dumps({"id": "r1", "trace_id": "r1", "name": "n", "run_type": "chain"})
    body, content_type = _multipart(
        [("post.r1", run.encode()), ("post.r1.inputs", nested(DEEP).encode())]
    )
    compressed = zstandard.ZstdCompressor().compress(body)
    response = keyed.post(
        "/api/langsmith/runs/multipart",
        compressed,
        content_type=content_type,
        headers={"Content-Encoding": "zstd"},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "too_deep"
    assert list(response.json()["fields"]) == ["post.r1.inputs"]
    assert not Run.objects.exists()


def _deep_kvlist(levels):
    value = {"stringValue": "x"}
    for _ in range(levels):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def _span(span_id, value):
    return {"traceId": "0" * 31 + "1", "spanId": span_id, "name": "s",
            "attributes": [{"key": "input.value", "value": value}]}  # fmt: skip


def test_otlp_json_rejects_the_span_with_deep_kvlists_and_keeps_the_others(keyed, project):
    spans = [_span("0" * 15 + "1", _deep_kvlist(66)), _span("0" * 15 + "2", _deep_kvlist(3))]
    export = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    response = keyed.post("/v1/traces", json.dumps(export), content_type="application/json")
    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == 1
    assert "'0000000000000001': attributes.input.value: " in partial["errorMessage"]
    assert list(Run.objects.values_list("run_id", flat=True)) == ["0000000000000002"]
    # A resource attribute that deep spoils every span: the export is a 400 naming it.
    export["resourceSpans"][0]["resource"] = {
        "attributes": [{"key": "service.name", "value": _deep_kvlist(66)}]
    }
    response = keyed.post("/v1/traces", json.dumps(export), content_type="application/json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["attributes.service.name"]
    raw = '{"resourceSpans": ' + "[" * DEEP + "]" * DEEP + "}"
    response = keyed.post("/v1/traces", raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "too_deep"
    assert Run.objects.count() == 1


def test_otlp_protobuf_with_deep_kvlists_rejects_the_span(keyed):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    value = AnyValue(string_value="x")
    for _ in range(25):  # 3 messages a level: under upb's own limit (100 messages)
        outer = AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        value = outer
    message = ExportTraceServiceRequest()
    span = message.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x01" * 8, "s"
    span.attributes.add(key="input.value").value.CopyFrom(value)
    with override_settings(TRIAGE_JSON_MAX_DEPTH=20):
        response = keyed.post(
            "/v1/traces", message.SerializeToString(), content_type="application/x-protobuf"
        )
    assert response.status_code == 200, response.content
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "attributes.input.value: " in answer.partial_success.error_message
    assert not Run.objects.exists()


def test_a_deep_import_line_or_csv_cell_is_a_400_naming_the_line(keyed, golden):
    url = "/api/v1/golden-sets/refunds/import"
    line = json.dumps({"input": {"q": "fine"}}) + "\n" + '{"input": ' + nested(DEEP) + "}\n"
    response = keyed.post(url, line, content_type="application/x-ndjson")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["line 2"]
    assert "64 levels" in response.json()["fields"]["line 2"][0]
    cell = nested(100).replace('"', '""')
    csv_body = f'input,criteria\n"{cell}",c\n'
    response = keyed.post(url, csv_body, content_type="text/csv")
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["line 2"][0].startswith("input: ")
    assert Case.objects.count() == 1
