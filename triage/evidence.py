"""What a reviewer reads first: a trace's question, final answer and retrieved documents,
and a model's completion as text (message, tool calls) instead of raw JSON.

Pure: takes scrubbed runs (plain dicts), returns plain values.
"""

TEXT_KEYS = ("content", "output", "answer", "text", "response", "result", "completion")
QUESTION_KEYS = ("question", "input", "query", "prompt", "text", "message")


def _text(value):
    """A string found in the usual places of a model or chain output, else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in TEXT_KEYS:
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key]
        message = value.get("message")
        if isinstance(message, dict):
            return _text(message)
        for key in ("generations", "choices"):  # LangChain / OpenAI shapes
            found = value.get(key)
            while isinstance(found, list) and found:
                found = found[0]
            if isinstance(found, dict):
                return _text(found)
    return ""


def _tool_calls(value):
    calls = []
    if isinstance(value, dict):
        raw = value.get("tool_calls")
        if raw is None and isinstance(value.get("message"), dict):
            raw = value["message"].get("tool_calls")
        for key in ("generations", "choices"):
            found = value.get(key)
            while raw is None and isinstance(found, list) and found:
                found = found[0]
            if raw is None and isinstance(found, dict):
                return _tool_calls(found)
        for call in raw if isinstance(raw, list) else []:
            if isinstance(call, dict):
                fn = call.get("function") if isinstance(call.get("function"), dict) else call
                args = fn.get("args", fn.get("arguments"))
                calls.append({"name": fn.get("name", "?"), "args": args})
    return calls


def completion(outputs):
    """{"text", "tool_calls"} of an LLM run's output, or None when it has neither."""
    text, calls = _text(outputs), _tool_calls(outputs)
    if not text and not calls:
        return None
    return {"text": text, "tool_calls": calls}


def _question(inputs):
    if isinstance(inputs, str):
        return inputs
    if not isinstance(inputs, dict):
        return ""
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]
    if isinstance(messages, list):
        users = [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "human")]
        if users:
            return _text(users[-1])
    for key in QUESTION_KEYS:
        if isinstance(inputs.get(key), str):
            return inputs[key]
    strings = [v for v in inputs.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else ""


def trace_evidence(rows):
    """The first screen of a trace: the question, the final answer, the retrieved documents.

    `rows` are the replay's rows (depth-first, root first; retriever rows carry
    `documents`). The answer is the root run's output text, else the last LLM completion.
    """
    if not rows:
        return None
    root = rows[0]
    answer = _text(root.get("outputs"))
    llm_rows = [r for r in rows if r.get("run_type") == "llm"]
    calls = []
    if not answer and llm_rows:
        done = completion(llm_rows[-1].get("outputs")) or {}
        answer, calls = done.get("text", ""), done.get("tool_calls", [])
    documents = next((r["documents"] for r in rows if r.get("documents")), [])
    errors = [r["error"] for r in rows if r.get("error")]
    return {
        "question": _question(root.get("inputs")),
        "answer": answer,
        "tool_calls": calls,
        "documents": documents,
        "error": errors[0] if errors else "",
    }
