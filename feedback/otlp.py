"""OpenTelemetry ingest: OTLP/HTTP trace exports (protobuf or JSON) mapped to Runs.

Spans carry LLM data in one of two attribute dialects, both read here:
- OpenTelemetry GenAI semantic conventions: `gen_ai.operation.name`, `gen_ai.request.model`,
  `gen_ai.response.model`, `gen_ai.usage.input_tokens|output_tokens`,
  `gen_ai.response.finish_reasons`, `gen_ai.input.messages|output.messages` (JSON), the
  older indexed `gen_ai.prompt.N.*` / `gen_ai.completion.N.*`, and `gen_ai.*.message` /
  `gen_ai.choice` span events.
- OpenInference (Arize/Phoenix): `openinference.span.kind`, `llm.model_name`,
  `llm.token_count.*`, `llm.input_messages.N.message.*`, `input.value`/`output.value`,
  `retrieval.documents.N.document.*`.
A span becomes a run: span id → run id, trace id → trace id, parent span → parent run.
"""

import base64
import re
from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERROR, drf_error, validation_fields
from accounts.jsonbody import JsonInvalid, json_parse, max_depth_setting

from . import services
from .request_bodies import BodyError, request_body_decoded
from .serializers import RunInput

OPENINFERENCE_KINDS = {
    "LLM": "llm", "CHAIN": "chain", "TOOL": "tool", "RETRIEVER": "retriever",
    "RERANKER": "retriever", "EMBEDDING": "embedding", "AGENT": "chain",
    "GUARDRAIL": "chain", "EVALUATOR": "chain", "PROMPT": "prompt",
}  # fmt: skip
GENAI_OPERATIONS = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm", "completion": "llm",
    "embeddings": "embedding", "execute_tool": "tool", "invoke_agent": "chain",
    "create_agent": "chain",
}  # fmt: skip
STATUS_ERROR = {2, "STATUS_CODE_ERROR"}
_INDEXED = re.compile(r"^(?P<prefix>.+?)\.(?P<index>\d+)\.(?P<rest>.+)$")


# --- decoding -----------------------------------------------------------------------------


def _id_hex(value):
    """OTLP/JSON ids are hex; protobuf → dict gives base64. Accept both."""
    if not value:
        return ""
    if re.fullmatch(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}", value):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex()
    except ValueError:
        return str(value)


def any_value(value, field="value", depth=0):
    """An OTLP AnyValue (as a dict) → a plain Python value.

    Arrays and kvlists nest; past TRIAGE_JSON_MAX_DEPTH levels it is a 400 naming the
    attribute (JsonInvalid), so the recursion here stays bounded.
    """
    if not isinstance(value, dict):
        return value
    for name in ("stringValue", "boolValue", "doubleValue"):
        if name in value:
            return value[name]
    if "intValue" in value:
        return int(value["intValue"])
    if ("arrayValue" in value or "kvlistValue" in value) and depth >= max_depth_setting():
        raise JsonInvalid(
            "too_deep", f"Attribute nested deeper than {max_depth_setting()} levels.", field
        )
    if "arrayValue" in value:
        return [any_value(v, field, depth + 1) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {
            kv["key"]: any_value(kv.get("value"), field, depth + 1)
            for kv in value["kvlistValue"].get("values", [])
        }
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items):
    return {
        item["key"]: any_value(item.get("value", {}), f"attributes.{item['key']}")
        for item in items or []
        if "key" in item
    }


def export_request_from_protobuf(body):
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    return MessageToDict(message)


# --- mapping ------------------------------------------------------------------------------


def _indexed(attrs, prefix):
    """`prefix.0.a.b = v` attributes → [{"a.b": v}, …] in index order."""
    rows = {}
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        match = _INDEXED.match(key)
        if match and match["prefix"] == prefix:
            rows.setdefault(int(match["index"]), {})[match["rest"]] = value
    return [rows[i] for i in sorted(rows)]


def _json_or(value):
    """A JSON-encoded attribute parsed; kept as the string when it is not (or too deep)."""
    if isinstance(value, str):
        try:
            return json_parse(value)
        except JsonInvalid:
            return value
    return value


def _genai_messages(value):
    """gen_ai.input.messages / output.messages (parts) → [{"role", "content"}]."""
    messages = _json_or(value)
    if not isinstance(messages, list):
        return None
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if content is None and isinstance(message.get("parts"), list):
            texts = [p.get("content") for p in message["parts"] if isinstance(p, dict)]
            content = "\n".join(str(t) for t in texts if t is not None)
        row = {"role": message.get("role", ""), "content": content}
        if message.get("finish_reason"):
            row["finish_reason"] = message["finish_reason"]
        out.append(row)
    return out


def _messages(attrs, events, direction):
    if direction == "input":
        found = _genai_messages(attrs.get("gen_ai.input.messages"))
        sources = (("gen_ai.prompt", ""), ("llm.input_messages", "message."))
        event_names = {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
                       "gen_ai.tool.message"}  # fmt: skip
    else:
        found = _genai_messages(attrs.get("gen_ai.output.messages"))
        sources = (("gen_ai.completion", ""), ("llm.output_messages", "message."))
        event_names = {"gen_ai.choice"}
    if found:
        return found
    for prefix, inner in sources:
        rows = _indexed(attrs, prefix)
        if rows:
            return [
                {"role": r.get(inner + "role", ""), "content": r.get(inner + "content")}
                for r in rows
            ]
    from_events = []
    for event in events:
        if event["name"] in event_names:
            ev = event["attributes"]
            body = _json_or(ev.get("content", ev.get("message")))
            role = ev.get("role") or event["name"].split(".")[1].replace("choice", "assistant")
            if isinstance(body, dict):
                role, body = body.get("role", role), body.get("content", body)
            from_events.append({"role": role, "content": body})
    return from_events or None


def _first(attrs, *names):
    for name in names:
        if attrs.get(name) not in (None, ""):
            return attrs[name]
    return None


def _nanos(value):
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value) / 1e9, tz=UTC)


def _run_type(attrs):
    kind = str(attrs.get("openinference.span.kind") or "").upper()
    if kind in OPENINFERENCE_KINDS:
        return OPENINFERENCE_KINDS[kind]
    operation = attrs.get("gen_ai.operation.name")
    if operation in GENAI_OPERATIONS:
        return GENAI_OPERATIONS[operation]
    if _first(attrs, "gen_ai.request.model", "gen_ai.system", "llm.model_name"):
        return "llm"
    return "chain"


def run_from_span(span, resource_attrs):
    """One OTLP span (dict form) → a run in our RunInput shape."""
    attrs = attributes(span.get("attributes"))
    events = [
        {"name": e.get("name", ""), "attributes": attributes(e.get("attributes"))}
        for e in span.get("events", [])
    ]
    run_type = _run_type(attrs)
    run = {
        "id": _id_hex(span.get("spanId")),
        "trace_id": _id_hex(span.get("traceId")),
        "parent_run_id": _id_hex(span.get("parentSpanId")),
        "name": span.get("name", "")[:300],
        "run_type": run_type,
        "start_time": _nanos(span.get("startTimeUnixNano")),
        "end_time": _nanos(span.get("endTimeUnixNano")),
    }
    inputs, outputs = {}, {}
    if messages := _messages(attrs, events, "input"):
        inputs["messages"] = messages
    if messages := _messages(attrs, events, "output"):
        outputs["messages"] = messages
    for key, target in (("input.value", inputs), ("output.value", outputs)):
        if key in attrs:
            target.setdefault("value", _json_or(attrs[key]))
    if args := _first(attrs, "gen_ai.tool.call.arguments", "tool.parameters"):
        inputs.setdefault("arguments", _json_or(args))
    if result := attrs.get("gen_ai.tool.call.result"):
        outputs.setdefault("result", _json_or(result))
    docs = _indexed(attrs, "retrieval.documents")
    if docs:
        run["documents"] = [
            {
                k: v
                for k, v in (
                    ("content", d.get("document.content", "")),
                    ("id", d.get("document.id")),
                    ("score", d.get("document.score")),
                    ("metadata", _json_or(d.get("document.metadata"))),
                )
                if v is not None
            }
            for d in docs
        ]
        outputs.setdefault("documents", run["documents"])
    run["inputs"] = inputs
    if outputs:
        run["outputs"] = outputs
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
    if model:
        run["model"] = str(model)[:200]
    for field, names in (
        ("prompt_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                           "llm.token_count.prompt")),
        ("completion_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                               "llm.token_count.completion")),
        ("total_tokens", ("gen_ai.usage.total_tokens", "llm.token_count.total")),
    ):  # fmt: skip
        value = _first(attrs, *names)
        if isinstance(value, int | float) and not isinstance(value, bool):
            run[field] = int(value)
    cost = _first(attrs, "llm.cost.total", "gen_ai.usage.cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        run["total_cost"] = Decimal(str(round(cost, 8)))
    reasons = _first(attrs, "gen_ai.response.finish_reasons", "llm.finish_reason")
    if isinstance(reasons, list) and reasons:
        run["stop_reason"] = str(reasons[0])[:64]
    elif isinstance(reasons, str):
        run["stop_reason"] = reasons[:64]
    elif outputs.get("messages") and outputs["messages"][0].get("finish_reason"):
        run["stop_reason"] = str(outputs["messages"][0]["finish_reason"])[:64]
    status = span.get("status") or {}
    if status.get("code") in STATUS_ERROR:
        exception = next((e["attributes"] for e in events if e["name"] == "exception"), {})
        run["error"] = (
            status.get("message")
            or ": ".join(
                str(exception[k]) for k in ("exception.type", "exception.message") if k in exception
            )
            or "error"
        )
    metadata = {"otel": {"attributes": attrs, "kind": span.get("kind")}}
    if resource_attrs.get("service.name"):
        metadata["service_name"] = resource_attrs["service.name"]
    for key in ("session.id", "gen_ai.conversation.id", "user.id"):
        if key in attrs:
            metadata[key] = attrs[key]
    run["extra"] = {"metadata": metadata}
    return run


def runs_from_export(payload):
    """An ExportTraceServiceRequest (dict form) → (runs, rejected messages)."""
    runs, rejected = [], []
    if not isinstance(payload, dict) or not isinstance(payload.get("resourceSpans", []), list):
        raise ValueError("Expected an ExportTraceServiceRequest with 'resourceSpans'.")
    for resource_spans in payload.get("resourceSpans", []):
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                try:
                    data = run_from_span(span, resource)
                except JsonInvalid as exc:  # OTLP's way: that span is rejected, not the export
                    rejected.append(f"span {span.get('spanId')!r}: {exc.field}: {exc}")
                    continue
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    rejected.append(f"span {span.get('spanId')!r}: {exc}")
                    continue
                serializer = RunInput(data=data)
                if serializer.is_valid():
                    runs.append(serializer.validated_data)
                else:
                    fields = validation_fields(serializer.errors)
                    rejected.append(f"span {data.get('id')!r}: {sorted(fields)}")
    return runs, rejected


# --- view ---------------------------------------------------------------------------------


class OtlpTracesApi(APIView):
    permission_classes = [scope_required("ingest")]
    parser_classes = []  # protobuf or JSON, read after decompression

    @extend_schema(
        operation_id="otlp_traces_export",
        request={
            "application/x-protobuf": {"type": "string", "format": "binary"},
            "application/json": {"type": "object", "additionalProperties": True},
        },
        responses={
            200: OpenApiResponse(description="ExportTraceServiceResponse (protobuf or JSON)"),
            **{code: OpenApiResponse(ERROR) for code in (400, 401, 403, 413, 415, 429)},
        },
        description="OTLP/HTTP trace export. GenAI and OpenInference span attributes → runs.",
    )
    def post(self, request):
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type not in {"application/x-protobuf", "application/json"}:
            return drf_error(
                415,
                "unsupported_media_type",
                "Send application/x-protobuf or application/json (OTLP/HTTP).",
            )
        try:
            body = request_body_decoded(request)
            if content_type == "application/json":
                # OTLP/JSON spends 4 levels per AnyValue level (value.kvlistValue.values[i])
                # plus ~10 to reach a span's attributes; any_value applies the cap itself.
                payload = json_parse(body or b"{}", max_depth=4 * max_depth_setting() + 32)
            else:
                payload = export_request_from_protobuf(body)
            runs, rejected = runs_from_export(payload)
        except BodyError as exc:
            return drf_error(exc.status, exc.code, exc.detail, exc.fields)
        except JsonInvalid as exc:
            return drf_error(400, exc.code, exc.detail, {exc.field: [exc.detail]})
        except Exception as exc:  # protobuf DecodeError, JSON errors, wrong shapes
            detail = f"Could not read the OTLP export: {exc}"
            return drf_error(400, "malformed_body", detail, {"body": [detail]})
        if runs:
            services.runs_upsert(project=request.user.project, runs=runs, source="otlp")
        partial = {}
        if rejected:
            partial = {"rejectedSpans": len(rejected), "errorMessage": "; ".join(rejected)[:2000]}
        if content_type == "application/json":
            return Response({"partialSuccess": partial} if partial else {})
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        message = ExportTraceServiceResponse()
        if partial:
            message.partial_success.rejected_spans = partial["rejectedSpans"]
            message.partial_success.error_message = partial["errorMessage"]
        from django.http import HttpResponse

        return HttpResponse(message.SerializeToString(), content_type="application/x-protobuf")
