"""A trace's first screen and completions as text (pure, no database)."""

from triage import evidence


def test_completion_reads_the_usual_shapes_as_text_and_tool_calls():
    assert evidence.completion({"content": "Hi"}) == {"text": "Hi", "tool_calls": []}
    openai = {"choices": [{"message": {"content": "", "tool_calls": [
        {"function": {"name": "lookup", "arguments": '{"id": 7}'}}
    ]}}]}  # fmt: skip
    assert evidence.completion(openai) == {
        "text": "",
        "tool_calls": [{"name": "lookup", "args": '{"id": 7}'}],
    }
    langchain = {"generations": [[{"text": "Refunds take 30 days."}]]}
    assert evidence.completion(langchain)["text"] == "Refunds take 30 days."
    assert evidence.completion({"tool_calls": [{"name": "f", "args": {"a": 1}}]})["tool_calls"] == [
        {"name": "f", "args": {"a": 1}}
    ]
    assert evidence.completion({"logprobs": [0.1]}) is None  # falls back to the JSON


def test_trace_evidence_prefers_the_roots_answer_and_finds_the_documents():
    rows = [
        {"run_type": "chain", "inputs": {"question": "Refund?"}, "outputs": None, "error": ""},
        {"run_type": "retriever", "inputs": {}, "outputs": {}, "documents": [{"content": "d"}]},
        {"run_type": "llm", "inputs": {}, "outputs": {"content": "No."}, "error": "boom"},
    ]
    ev = evidence.trace_evidence(rows)
    assert (ev["question"], ev["answer"], ev["error"]) == ("Refund?", "No.", "boom")
    assert ev["documents"] == [{"content": "d"}]
    rows[0]["outputs"] = {"answer": "Yes."}
    assert evidence.trace_evidence(rows)["answer"] == "Yes."
    chat = [{"run_type": "llm", "inputs": {"messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "Where is it?"},
    ]}, "outputs": {"content": "Shipped."}}]  # fmt: skip
    assert evidence.trace_evidence(chat)["question"] == "Where is it?"
    assert evidence.trace_evidence([]) is None
