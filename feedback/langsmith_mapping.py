"""LangSmith's shapes mapped to ours, without requests or the database: runs, feedback
and multipart parts (feedback.langsmith serves them; its docstring lists what the SDK sends)."""

import json
import re
from decimal import Decimal

from django.conf import settings

from accounts.jsonbody import JsonInvalid, json_parse

from .attachments import IncomingAttachment
from .request_bodies import BodyError

# Feedback keys that mean "the user's thumbs" in common LangSmith setups.
THUMBS_KEYS = {"user_score", "thumbs", "thumbs_up", "thumbs_down", "user_feedback", "user_rating"}
DOWN_VALUES = ("down", "thumbs_down", "thumbsdown", "negative", "bad", "no", "false", "0", "👎")
UP_VALUES = ("up", "thumbs_up", "thumbsup", "positive", "good", "yes", "true", "1", "👍")
# Keys that are a rating on their own, whatever the score or value.
RATING_KEYS = {"thumbs_down": "down", "thumbs_up": "up"}


def _any_case(word):
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in word)


# A `value` that is a thumbs word: any letter case, JSON whitespace around it. One pattern
# for _rating and the OpenAPI schema (config/schema.py), spelled without flags or `\s`
# (which differ between Python and ECMA-262 regexes) so both read it alike.
THUMBS_VALUE_PATTERN = (
    "^[ \t\n\r]*(" + "|".join(map(_any_case, DOWN_VALUES + UP_VALUES)) + ")[ \t\n\r]*$"
)
RUN_PASSTHROUGH = (
    "id", "trace_id", "parent_run_id", "name", "run_type", "inputs", "outputs", "error",
    "start_time", "end_time", "tags", "extra", "dotted_order", "session_id", "session_name",
    "reference_example_id",
)  # fmt: skip
BIG_FIELDS = ("inputs", "outputs", "events", "extra", "error", "serialized")


# --- pure mapping -------------------------------------------------------------------------


def _dig(value, *path):
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
        elif not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(outputs, metadata):
    """(prompt_tokens, completion_tokens, total_tokens, cost) from the shapes LangSmith reads."""
    usage = _dig(outputs, "usage_metadata") or metadata.get("usage_metadata")
    if isinstance(usage, dict):
        cost = usage.get("total_cost")
        parts = (usage.get("input_cost") or 0, usage.get("output_cost") or 0)
        if cost is None and usage.get("input_cost") is not None and all(_number(p) for p in parts):
            cost = sum(parts)
        return (
            _int(usage.get("input_tokens")),
            _int(usage.get("output_tokens")),
            _int(usage.get("total_tokens")),
            cost,
        )
    usage = (
        _dig(outputs, "llm_output", "token_usage")
        or _dig(outputs, "llm_output", "usage")
        or _dig(outputs, "usage")
    )
    if isinstance(usage, dict):  # OpenAI or Anthropic response objects
        return (
            _int(usage.get("prompt_tokens", usage.get("input_tokens"))),
            _int(usage.get("completion_tokens", usage.get("output_tokens"))),
            _int(usage.get("total_tokens")),
            None,
        )
    return None, None, None, None


def _stop_reason(outputs):
    for path in (
        ("choices", 0, "finish_reason"),
        ("stop_reason",),
        ("finish_reason",),
        ("response_metadata", "finish_reason"),
        ("response_metadata", "stop_reason"),
        ("generations", 0, 0, "generation_info", "finish_reason"),
        ("generations", 0, "generation_info", "finish_reason"),
        ("generations", 0, 0, "message", "kwargs", "response_metadata", "finish_reason"),
        ("generations", 0, 0, "message", "kwargs", "response_metadata", "stop_reason"),
    ):
        found = _dig(outputs, *path)
        if isinstance(found, str) and found:
            return found[:64]
    return None


def _model(outputs, extra):
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    for found in (
        metadata.get("ls_model_name"),
        _dig(extra, "invocation_params", "model"),
        _dig(extra, "invocation_params", "model_name"),
        _dig(outputs, "model"),
        _dig(outputs, "llm_output", "model_name"),
        _dig(outputs, "response_metadata", "model_name"),
    ):
        if isinstance(found, str) and found:
            return found[:200]
    return None


def documents_normalize(items):
    """Retriever output (LangChain Documents or plain dicts) → [{"content", "metadata", …}]."""
    if not isinstance(items, list):
        return None
    docs = []
    for item in items:
        if isinstance(item, str):
            docs.append({"content": item})
        elif isinstance(item, dict):
            kwargs = item.get("kwargs") if item.get("lc") else None  # serialized LangChain
            item = kwargs or item
            doc = {"content": item.get("page_content", item.get("content", ""))}
            for name in ("id", "metadata", "score"):
                if item.get(name) is not None:
                    doc[name] = item[name]
            docs.append(doc)
    return docs


def run_from_langsmith(raw):
    """A LangSmith run dict → our RunInput shape (only the fields that were sent)."""
    if not isinstance(raw, dict):
        return raw  # RunInput reports it
    # LangSmith sends null for "not given" (a patch nulls name and run_type): drop those.
    # Ids arrive as JSON strings (the SDK serializes UUIDs); RunInput refuses other types.
    data = {name: raw[name] for name in RUN_PASSTHROUGH if raw.get(name) is not None}
    outputs = raw.get("outputs") if isinstance(raw.get("outputs"), dict) else {}
    extra = raw.get("extra") if isinstance(raw.get("extra"), dict) else {}
    metadata = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    if outputs or metadata:
        prompt, completion, total, cost = _usage(outputs, metadata)
        for name, value in (
            ("prompt_tokens", prompt),
            ("completion_tokens", completion),
            ("total_tokens", total),
        ):
            if value is not None:
                data[name] = value
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            data["total_cost"] = Decimal(str(round(cost, 8)))
    if outputs and (stop := _stop_reason(outputs)):
        data["stop_reason"] = stop
    if model := _model(outputs, extra):
        data["model"] = model
    if raw.get("run_type") == "retriever" and outputs:
        docs = documents_normalize(outputs.get("documents", outputs.get("output")))
        if docs is not None:
            data["documents"] = docs
    if isinstance(data.get("error"), dict | list):
        data["error"] = json.dumps(data["error"])
    if raw.get("session_name") or raw.get("events"):
        extra = dict(extra)
        extra["metadata"] = {**metadata, "ls_session_name": raw.get("session_name")}
        data["extra"] = extra
    return data


def _rating(key, score, value):
    """The rating ("down"/"up") from the score, else a thumbs value, else a thumbs key."""
    if isinstance(score, bool):
        return "up" if score else "down"
    if isinstance(score, int | float):
        return "down" if score < 0.5 else "up"
    thumbs = re.fullmatch(THUMBS_VALUE_PATTERN, value) if isinstance(value, str) else None
    if thumbs:
        return "down" if thumbs.group(1).lower() in DOWN_VALUES else "up"
    return RATING_KEYS.get(key)


def _given(value):
    """LangSmith sends null (or blank) for "not given"."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def feedback_from_langsmith(raw):
    """LangSmith feedback → a native feedback event (API.md fields).

    Score 0 (or a false/negative value on a thumbs key) is a thumbs-down.
    """
    if not isinstance(raw, dict):
        return raw
    key = str(raw.get("key") or "")
    score, value = raw.get("score"), raw.get("value")
    event = {"metadata": {"langsmith": {"key": key}}}
    # Ids are JSON strings (LangSmithFeedbackInput); another type is passed on to be refused.
    for name in ("id", "run_id", "trace_id", "session_id"):
        if _given(raw.get(name)):
            event[name] = raw[name]
    rating = _rating(key, score, value)
    if rating:
        event["rating"] = rating
    if isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 1:
        event["score"] = float(score)
    if raw.get("comment"):
        event["comment"] = raw["comment"]
    if raw.get("created_at"):
        event["created_at"] = raw["created_at"]
    if isinstance(value, str) and value in settings.TRIAGE_CATEGORIES:
        event["category"] = value
    source_type = str(_dig(raw, "feedback_source", "type") or "api")
    event["source"] = "explicit" if source_type in {"api", "app"} else "auto"
    lang = event["metadata"]["langsmith"]
    for name in ("score", "value", "correction", "feedback_source", "feedback_config"):
        if raw.get(name) is not None:
            lang[name] = raw[name]
    return event


def multipart_ops(parts):
    """Multipart parts (request_bodies.Part) → (posts, patches, feedbacks, attachments,
    names of the parts ignored).

    A part of a kind this server does not know (a head other than post, patch, feedback and
    attachment, or a post/patch field not in BIG_FIELDS) is ignored, unread: newer SDKs add
    kinds, and the runs beside it must still land. A known part that makes no sense raises
    ValueError, an attachment over TRIAGE_ATTACHMENT_MAX_BYTES BodyError (413), both naming
    the part.
    """
    runs = {}  # (op, id) -> dict, in arrival order
    feedbacks, attachments, ignored = [], [], []
    limit = settings.TRIAGE_ATTACHMENT_MAX_BYTES
    for part in parts:
        name, value = part.name, part.data
        head, _, rest = name.partition(".")
        if head == "feedback":
            feedbacks.append(_json_part(name, value))
            continue
        if head == "attachment":
            run_id, _, attachment = rest.partition(".")
            if not run_id or not attachment or len(attachment) > 200:
                raise ValueError(f"Part {name!r}: expected attachment.<run id>.<name ≤ 200>.")
            if len(value) > limit:
                raise BodyError(
                    413,
                    "attachment_too_large",
                    f"Part {name!r} is {len(value)} bytes; attachments are limited to {limit}.",
                    field=name,
                )
            attachments.append(
                IncomingAttachment(name, run_id, attachment, part.content_type, value)
            )
            continue
        run_id, _, field = rest.partition(".")
        if head not in {"post", "patch"} or (field and field not in BIG_FIELDS):
            ignored.append(name)
            continue
        run = runs.setdefault((head, run_id), {"id": run_id})
        parsed = _json_part(name, value)
        if field:
            run[field] = parsed
        elif isinstance(parsed, dict):
            run.update({k: v for k, v in parsed.items() if k != "id"} | {"id": run_id})
        else:
            raise ValueError(f"Part {name!r} must be a JSON object.")
    posts = [run for (op, _), run in runs.items() if op == "post"]
    patches = [run for (op, _), run in runs.items() if op == "patch"]
    return posts, patches, feedbacks, attachments, ignored


def _json_part(name, value):
    try:
        return json_parse(value, field=name)
    except JsonInvalid as exc:
        raise BodyError(400, exc.code, f"Part {name!r}: {exc.detail}", field=exc.field) from None
