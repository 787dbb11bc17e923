"""OTLP/HTTP traces from the real OpenTelemetry exporter (protobuf) and as OTLP/JSON."""

import gzip
import json

import pytest
from django.test import Client
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from feedback.models import FeedbackEvent, Run
from tests.factories import api_key_for


@pytest.mark.django_db(transaction=True)
def test_real_otlp_exporter_spans_become_runs(live_server, project):
    key = api_key_for(project, scopes=["ingest"])
    exporter = OTLPSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers={"x-api-key": key})
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("agent") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o") as llm:  # GenAI semantic conventions
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            llm.set_attribute("gen_ai.usage.input_tokens", 120)
            llm.set_attribute("gen_ai.usage.output_tokens", 30)
            llm.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            llm.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Refund?"}]}]),
            )
            llm.set_attribute(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "No."}]}]),
            )
        with tracer.start_as_current_span("kb search") as retriever:  # OpenInference
            retriever.set_attribute("openinference.span.kind", "RETRIEVER")
            retriever.set_attribute("input.value", "refund policy")
            retriever.set_attribute("retrieval.documents.0.document.content", "30-day refunds")
            retriever.set_attribute("retrieval.documents.0.document.id", "kb-1")
            retriever.set_attribute("retrieval.documents.0.document.score", 0.9)
        with tracer.start_as_current_span("ChatAnthropic") as oi_llm:
            oi_llm.set_attribute("openinference.span.kind", "LLM")
            oi_llm.set_attribute("llm.model_name", "claude-3-5-haiku")
            oi_llm.set_attribute("llm.token_count.prompt", 11)
            oi_llm.set_attribute("llm.token_count.completion", 5)
            oi_llm.set_attribute("llm.input_messages.0.message.role", "user")
            oi_llm.set_attribute("llm.input_messages.0.message.content", "hi")
            oi_llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            oi_llm.set_attribute("llm.output_messages.0.message.content", "hello")
            oi_llm.set_status(Status(StatusCode.ERROR, "rate limited by provider"))
        trace_id = format(root.get_span_context().trace_id, "032x")
        root_id = format(root.get_span_context().span_id, "016x")
    provider.shutdown()

    runs = {r.name: r for r in Run.objects.filter(project=project, trace_id=trace_id)}
    assert set(runs) == {"agent", "chat gpt-4o", "kb search", "ChatAnthropic"}
    root_run, chat = runs["agent"], runs["chat gpt-4o"]
    assert root_run.run_id == root_id and root_run.parent_run_id == ""
    assert all(r.parent_run_id == root_id for n, r in runs.items() if n != "agent")
    assert (chat.run_type, chat.model, chat.stop_reason) == ("llm", "gpt-4o-2024-08-06", "stop")
    assert (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (120, 30, 150)
    assert chat.inputs["messages"] == [{"role": "user", "content": "Refund?"}]
    assert chat.outputs["messages"] == [{"role": "assistant", "content": "No."}]
    assert chat.start_time <= chat.end_time and chat.source == "otlp"
    assert chat.metadata["service_name"] == "refund-bot"
    kb = runs["kb search"]
    assert kb.run_type == "retriever" and kb.inputs == {"value": "refund policy"}
    assert kb.documents == [{"content": "30-day refunds", "id": "kb-1", "score": 0.9}]
    oi = runs["ChatAnthropic"]
    assert (oi.run_type, oi.model, oi.prompt_tokens, oi.completion_tokens) == (
        "llm", "claude-3-5-haiku", 11, 5,
    )  # fmt: skip
    assert oi.inputs["messages"] == [{"role": "user", "content": "hi"}]
    assert oi.error == "rate limited by provider"


@pytest.mark.django_db
def test_otlp_json_export_is_accepted_and_feedback_links_by_trace(project):
    api = Client(headers={"Authorization": f"Bearer {api_key_for(project, scopes=['ingest'])}"})
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    feedback = api.post(
        "/api/v1/feedback",
        data=json.dumps({"trace_id": trace_id, "rating": "down", "comment": "wrong"}),
        content_type="application/json",
    )
    assert feedback.status_code == 201
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "embed",
                                "startTimeUnixNano": "1732000000000000000",
                                "endTimeUnixNano": "1732000000250000000",
                                "attributes": [
                                    {
                                        "key": "gen_ai.operation.name",
                                        "value": {"stringValue": "embeddings"},
                                    },
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "8"},
                                    },
                                ],
                            }  # fmt: skip
                        ]
                    }
                ],
            }
        ]
    }
    response = api.post("/v1/traces", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response.json() == {}
    run = Run.objects.get(project=project, run_id=span_id)
    assert (run.run_type, run.prompt_tokens, run.duration_ms) == ("embedding", 8, 250)
    event = FeedbackEvent.objects.get(project=project)
    assert Run.objects.filter(project=project, trace_id=event.trace_id).get() == run


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content_type", "body", "status", "error"),
    [
        ("application/x-protobuf", b"\xff\xff not protobuf", 400, "malformed_body"),
        ("application/json", b"{nope", 400, "malformed_body"),
        ("application/json", b'{"resourceSpans": 5}', 400, "malformed_body"),
        ("text/plain", b"hello", 415, "unsupported_media_type"),
    ],
)
def test_bad_otlp_bodies_are_json_4xx(project, content_type, body, status, error):
    api = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    response = api.post("/v1/traces", data=body, content_type=content_type)
    assert response.status_code == status and response.json()["error"] == error
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_otlp_without_key_is_401(project):
    response = Client().post("/v1/traces", data=b"{}", content_type="application/json")
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"


@pytest.mark.django_db(transaction=True)
def test_real_otlp_exporter_with_gzip_compression(live_server, project):
    from opentelemetry.exporter.otlp.proto.http import Compression

    key = api_key_for(project, scopes=["ingest"])
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"authorization": f"Bearer {key}"},
        compression=Compression.Gzip,  # Content-Encoding: gzip on the wire
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("chat gpt-4o") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.usage.input_tokens", 12)
        span_id = format(span.get_span_context().span_id, "016x")
    provider.shutdown()

    run = Run.objects.get(project=project, run_id=span_id)
    assert (run.run_type, run.model, run.prompt_tokens, run.source) == ("llm", "gpt-4o", 12, "otlp")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b'{"resourceSpans": []}')[:-6]],  # garbage, truncated
    ids=["garbage", "truncated"],
)
def test_bad_gzip_otlp_body_is_400_naming_the_body(project, body):
    api = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    response = api.post(
        "/v1/traces",
        data=body,
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "malformed_body" and "gzip" in error["detail"]
    assert list(error["fields"]) == ["body"]
    assert not Run.objects.exists()
