"""The real `langsmith` SDK pointed at a live Triage: runs and feedback land unchanged."""

import json
import uuid

import langsmith
import pytest
from langsmith import traceable
from langsmith import utils as ls_utils
from langsmith.run_helpers import get_current_run_tree

from feedback.langsmith_mapping import feedback_from_langsmith, run_from_langsmith
from feedback.models import FeedbackEvent, Run
from tests.factories import api_key_for
from tests.support import multipart_body

pytestmark = pytest.mark.django_db(transaction=True)


@traceable(run_type="retriever", name="search_kb")
def search_kb(question):
    return [
        {"page_content": "Refunds take 5 business days.", "type": "Document",
         "metadata": {"source": "kb/refunds.md"}},
    ]  # fmt: skip


@traceable(run_type="llm", name="chat_model", metadata={"ls_model_name": "gpt-4o-mini"})
def chat_model(messages):
    return {
        "choices": [
            {"message": {"role": "assistant", "content": "5 days."}, "finish_reason": "stop"}
        ],
        "usage_metadata": {"input_tokens": 42, "output_tokens": 7, "total_tokens": 49,
                           "total_cost": 0.000123},
    }  # fmt: skip


@traceable(name="answer")
def answer(question, ids):
    ids["root"] = str(get_current_run_tree().id)
    docs = search_kb(question)
    context = docs[0]["page_content"]
    return chat_model([{"role": "user", "content": f"{context}\n\n{question}"}])


def _trace_and_feedback(client):
    ids = {}
    with langsmith.tracing_context(enabled=True, client=client):
        answer("How long do refunds take?", ids)
    # Sent right away (POST /feedback), usually before the background thread sends the runs.
    client.create_feedback(ids["root"], key="user_score", score=0, comment="Took 3 weeks!")
    client.flush()
    return ids["root"]


def _assert_stored(project, root_id):
    runs = {r.name: r for r in Run.objects.filter(project=project, trace_id=root_id)}
    assert set(runs) == {"answer", "search_kb", "chat_model"}
    root, retriever, llm = runs["answer"], runs["search_kb"], runs["chat_model"]
    assert root.parent_run_id == "" and root.run_id == root_id
    assert retriever.parent_run_id == root_id and llm.parent_run_id == root_id
    assert (llm.run_type, llm.model, llm.stop_reason) == ("llm", "gpt-4o-mini", "stop")
    assert (llm.prompt_tokens, llm.completion_tokens, llm.total_tokens) == (42, 7, 49)
    assert str(llm.total_cost) == "0.00012300"
    assert llm.inputs["messages"][0]["content"].endswith("How long do refunds take?")
    assert llm.outputs["choices"][0]["message"]["content"] == "5 days."
    assert retriever.run_type == "retriever"
    assert retriever.documents == [
        {"content": "Refunds take 5 business days.", "metadata": {"source": "kb/refunds.md"}}
    ]
    assert root.start_time and root.end_time and root.duration_ms >= 0
    assert root.source == "langsmith" and root.dotted_order.endswith(root_id)

    (event,) = FeedbackEvent.objects.filter(project=project)
    assert (event.run_id, event.trace_id) == (root_id, root_id)  # linked once the run arrived
    assert (event.rating, event.score, event.comment) == ("down", 0.0, "Took 3 weeks!")
    assert event.metadata["langsmith"]["key"] == "user_score"


def test_sdk_default_multipart_path_with_zstd_stores_runs_and_feedback(ls_client, project):
    client = ls_client()
    root_id = _trace_and_feedback(client)
    assert client.info.instance_flags["zstd_compression_enabled"] is True
    assert client.compressed_traces is not None  # the SDK really sent zstd multipart
    _assert_stored(project, root_id)


def test_sdk_uncompressed_multipart_path(ls_client, project, monkeypatch):
    monkeypatch.setenv("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")
    ls_utils.get_env_var.cache_clear()
    client = ls_client()
    root_id = _trace_and_feedback(client)
    assert client.compressed_traces is None and client.tracing_queue is not None
    _assert_stored(project, root_id)


def test_sdk_forced_batch_path(ls_client, project, settings):
    # /info tells the SDK to use /runs/batch, as older LangSmith servers do.
    settings.TRIAGE_LANGSMITH_MULTIPART = False
    client = ls_client()
    root_id = _trace_and_feedback(client)
    assert client.info.batch_ingest_config["use_multipart_endpoint"] is False
    assert client.compressed_traces is None
    _assert_stored(project, root_id)


def test_sdk_create_run_then_update_run(ls_client, project):
    client = ls_client(auto_batch_tracing=False)
    run_id = uuid.uuid4()
    client.create_run(
        "lookup", inputs={"q": "order 7"}, run_type="tool", id=run_id, project_name="default"
    )
    client.update_run(run_id, outputs={"status": "shipped"}, error="timeout talking to ERP")
    run = Run.objects.get(project=project, run_id=str(run_id))
    assert (run.run_type, run.inputs, run.outputs) == (
        "tool",
        {"q": "order 7"},
        {"status": "shipped"},
    )
    assert run.error == "timeout talking to ERP" and run.end_time is not None


def test_sdk_feedback_for_a_known_run_gets_its_trace_at_once(ls_client, project):
    client = ls_client(auto_batch_tracing=False)
    root, child = uuid.uuid4(), uuid.uuid4()
    client.create_run("root", inputs={}, run_type="chain", id=root, project_name="default")
    client.create_run(
        "child", inputs={}, run_type="llm", id=child, parent_run_id=root, project_name="default"
    )
    client.create_feedback(child, key="thumbs", score=False, comment="no")
    event = FeedbackEvent.objects.get(project=project)
    assert (event.run_id, event.trace_id, event.rating) == (str(child), str(root), "down")


def test_bad_langsmith_payloads_are_json_4xx(client, project):
    from django.test import Client

    api = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    batch = api.post(
        "/api/langsmith/runs/batch",
        data=json.dumps({"post": [{"id": "r1", "start_time": "noon"}]}),
        content_type="application/json",
    )
    assert batch.status_code == 400
    assert "post[0].start_time" in batch.json()["fields"]
    # Only a list (or null / absent) is a list of runs: an object is not an empty list.
    for body, field in (({"patch": {}, "post": []}, "patch"), ({"post": ""}, "post")):
        refused = api.post("/api/langsmith/runs/batch", body, content_type="application/json")
        assert refused.status_code == 400 and list(refused.json()["fields"]) == [field]
    # Ids are JSON strings: a number is refused, not turned into "5".
    numeric = api.post("/api/langsmith/runs", {"id": 5}, content_type="application/json")
    assert numeric.status_code == 400 and list(numeric.json()["fields"]) == ["post[0].id"]
    nothing = api.post(
        "/api/langsmith/runs/batch", {"patch": None}, content_type="application/json"
    )
    assert nothing.status_code == 202 and nothing.json() == {"accepted": 0, "feedback": 0}
    multipart = api.post(
        "/api/langsmith/runs/multipart",
        data=b'--b\r\nContent-Disposition: form-data; name="post.r1"\r\n\r\n{nope\r\n--b--\r\n',
        content_type="multipart/form-data; boundary=b",
    )
    assert multipart.status_code == 400 and multipart.json()["error"] == "malformed_body"
    zstd = api.post(
        "/api/langsmith/runs/multipart",
        data=b"not zstd",
        content_type="multipart/form-data; boundary=b",
        headers={"Content-Encoding": "zstd"},
    )
    assert zstd.status_code == 400 and "zstd" in zstd.json()["detail"]
    feedback = api.post(
        "/api/langsmith/feedback",
        data=json.dumps({"run_id": "r1", "key": "note"}),
        content_type="application/json",
    )
    assert feedback.status_code == 400 and "score" in feedback.json()["fields"]
    assert not Run.objects.exists() and not FeedbackEvent.objects.exists()


@pytest.mark.parametrize(
    ("feedback", "rating", "score"),
    [
        ({"key": "user_score", "score": 0}, "down", 0.0),
        ({"key": "user_score", "score": 1}, "up", 1.0),
        ({"key": "thumbs", "score": False}, "down", None),
        ({"key": "thumbs", "value": "thumbs_down"}, "down", None),
        ({"key": "thumbs_down"}, "down", None),
        ({"key": "helpfulness", "score": 0.8}, "up", 0.8),
        ({"key": "stars", "score": 4}, "up", None),
    ],
)
def test_langsmith_feedback_maps_to_a_rating(feedback, rating, score):
    event = feedback_from_langsmith({"run_id": "r", **feedback})
    assert event.get("rating") == rating and event.get("score") == score


def test_langchain_style_outputs_give_tokens_model_and_stop_reason():
    run = run_from_langsmith(
        {
            "id": "r",
            "run_type": "llm",
            "extra": {"invocation_params": {"model": "claude-3-5-sonnet"}},
            "outputs": {
                "generations": [[{"text": "hi", "generation_info": {"finish_reason": "length"}}]],
                "llm_output": {"token_usage": {"prompt_tokens": 3, "completion_tokens": 4}},
            },
        }
    )
    assert (run["model"], run["stop_reason"]) == ("claude-3-5-sonnet", "length")
    assert (run["prompt_tokens"], run["completion_tokens"]) == (3, 4)


def test_an_experiment_runs_reference_example_and_session_are_kept():
    """Production-health metrics and auto-flags leave experiment runs out by this field."""
    run = run_from_langsmith(
        {
            "id": "r",
            "run_type": "chain",
            "reference_example_id": "9f1c0d5e-0000-4000-8000-000000000001",
            "session_name": "ci-refunds-1a2b",
            "extra": {"metadata": {"prompt_hash": "p1"}},
        }
    )
    assert run["reference_example_id"] == "9f1c0d5e-0000-4000-8000-000000000001"
    assert run["session_name"] == "ci-refunds-1a2b"
    assert run["extra"]["metadata"]["prompt_hash"] == "p1"


def test_odd_shapes_inside_extra_or_usage_are_ignored_not_a_500(project):
    from django.test import Client

    api = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    odd = {
        "id": "odd",
        "extra": {"metadata": ["not", "an", "object"]},
        "outputs": {"usage_metadata": {"input_cost": "cheap", "output_cost": 1}},
    }
    assert api.post("/api/langsmith/runs", odd, content_type="application/json").status_code == 202
    assert Run.objects.get(project=project, run_id="odd").total_cost is None


# --- POST /feedback: the SDK's feedback shape, and a rating that must be derivable ---


def _feedback_api(project):
    from django.test import Client

    return Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": 5, "run_id": "r1", "score": 0}, "id"),  # a number, not turned into "5"
        ({"run_id": 7, "score": 0}, "run_id"),
        ({"run_id": "r1", "score": 0, "comment": False}, "comment"),  # not silently dropped
        ({"run_id": "r1", "score": 0, "comment": 0}, "comment"),
        ({"run_id": "r1", "score": "0"}, "score"),
        ({"run_id": "r1", "score": 0, "feedback_source": {"type": 3}}, "feedback_source.type"),
        ({"run_id": "r1", "value": "maybe"}, "score"),  # no rating can be derived
        ({"run_id": "r1", "key": "thumbs_sideways", "score": None}, "score"),
    ],
)
def test_langsmith_feedback_refuses_wrong_types_naming_the_field(project, body, field):
    response = _feedback_api(project).post(
        "/api/langsmith/feedback", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert not FeedbackEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "rating"),
    [
        ({"value": "  DOWN "}, "down"),
        ({"value": "\tThumbs_Up\n"}, "up"),
        ({"value": "👎"}, "down"),
        ({"key": "thumbs_down", "score": None, "value": "maybe"}, "down"),
        ({"score": True, "value": "down"}, "up"),  # the score comes first
    ],
)
def test_langsmith_feedback_rating_from_value_key_or_score(project, body, rating):
    response = _feedback_api(project).post(
        "/api/langsmith/feedback",
        {"id": "fb-1", "run_id": "r1", **body},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["id"] == "fb-1"
    event = FeedbackEvent.objects.get(project=project)
    assert (event.client_id, event.run_id, event.rating) == ("fb-1", "r1", rating)


def test_langsmith_feedback_answers_the_stored_id_not_the_bodys(project):
    api = _feedback_api(project)
    unnamed = api.post(
        "/api/langsmith/feedback",
        {"id": None, "run_id": "r1", "score": 1, "comment": None},
        content_type="application/json",
    )
    assert unnamed.status_code == 200 and unnamed.json()["id"] is None
    assert FeedbackEvent.objects.get(project=project).client_id is None


# --- POST /runs/multipart: parts of unknown kinds are ignored and reported ---


def test_multipart_parts_of_unknown_kinds_are_ignored_and_the_runs_stored(project, caplog):
    body = multipart_body(
        ("post.r1", "application/json", b'{"name": "lookup", "run_type": "tool"}'),
        ("post.r1.inputs", "application/json", b'{"q": "order 7"}'),
        ("telemetry.x", "application/octet-stream", b"\x00secret telemetry bytes"),
        ("post.r1.summary", "text/plain", b"not JSON, never read"),  # a field we do not know
        ("post.r2.summary", "text/plain", b"no run r2 is made of this"),
    )
    response = _feedback_api(project).post(
        "/api/langsmith/runs/multipart", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 1,
        "feedback": 0,
        "ignored_parts": ["telemetry.x", "post.r1.summary", "post.r2.summary"],
    }
    (run,) = Run.objects.filter(project=project)
    assert (run.run_id, run.name, run.inputs) == ("r1", "lookup", {"q": "order 7"})
    (warning,) = [r for r in caplog.records if "unknown kinds" in r.getMessage()]
    assert "3 part(s)" in warning.getMessage() and "telemetry.x" in warning.getMessage()
    assert "secret" not in warning.getMessage()  # names, never contents


def test_multipart_with_a_malformed_known_part_stores_nothing(project):
    body = multipart_body(
        ("post.r1", "application/json", b'{"name": "fine"}'),
        ("post.r2", "application/json", b"{nope"),
        ("telemetry.x", "application/octet-stream", b"ignored"),
    )
    response = _feedback_api(project).post(
        "/api/langsmith/runs/multipart", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_body" and "post.r2" in response.json()["fields"]
    assert not Run.objects.exists()


def _multipart(project, *parts):
    return _feedback_api(project).post(
        "/api/langsmith/runs/multipart",
        data=multipart_body(*parts),
        content_type="multipart/form-data; boundary=b",
    )


def test_multipart_feedback_that_cannot_be_stored_fails_the_request_naming_it(project):
    """Never a silent drop: the SDK logs a 400's body, and nothing of the request is kept."""
    response = _multipart(
        project,
        ("post.r1", "application/json", b'{"name": "answer", "run_type": "llm"}'),
        ("feedback.f1", "application/json", b'{"id": "f1", "run_id": "r1", "score": 0}'),
        ("feedback.f2", "application/json", b'{"id": "f2", "run_id": "r1", "key": "x"}'),
        ("feedback.f3", "application/json", b'{"id": "f3", "score": 1, "created_at": "nope"}'),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert sorted(body["fields"]) == ["feedback[1].score", "feedback[2].created_at"]
    assert "feedback[2].created_at" in body["detail"]
    assert not Run.objects.exists() and not FeedbackEvent.objects.exists()


def test_multipart_scores_on_an_experiment_run_of_the_same_request_are_eval_results(project):
    """Only user feedback is checked as feedback: an evaluator's 7/10 is a valid score."""
    from feedback.models import EvalScore

    run = {"name": "case", "reference_example_id": "9f1c0d5e-0000-4000-8000-000000000001"}
    response = _multipart(
        project,
        ("post.r1", "application/json", json.dumps(run).encode()),
        ("feedback.s1", "application/json", b'{"id": "s1", "run_id": "r1", "score": 7}'),
        ("feedback.f1", "application/json", b'{"id": "f1", "run_id": "r0", "score": 0}'),
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "feedback": 2}
    assert list(EvalScore.objects.values_list("feedback_id", "score")) == [("s1", 7.0)]
    assert list(FeedbackEvent.objects.values_list("client_id", "rating")) == [("f1", "down")]


def test_multipart_feedback_reusing_an_id_with_another_body_is_named(project, caplog):
    first = b'{"id": "f1", "score": 0, "comment": "slow"}'
    assert _multipart(project, ("feedback.f1", "application/json", first)).status_code == 202
    response = _multipart(
        project,
        ("post.r1", "application/json", b'{"name": "answer"}'),
        ("feedback.f1", "application/json", b'{"id": "f1", "score": 0, "comment": "new text"}'),
        ("feedback.f2", "application/json", b'{"id": "f2", "score": 1}'),
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "feedback": 1, "feedback_conflicts": ["f1"]}
    assert FeedbackEvent.objects.get(client_id="f1").comment == "slow"
    assert FeedbackEvent.objects.filter(client_id="f2").exists() and Run.objects.count() == 1
    (warning,) = [r for r in caplog.records if "another body" in r.getMessage()]
    assert "'f1'" in warning.getMessage() and "new text" not in warning.getMessage()
