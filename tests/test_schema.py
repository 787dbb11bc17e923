import re

from django.core.management import call_command


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/v1/feedback",
        "/api/v1/traces",
        "/api/v1/golden-sets/{slug}/versions",
        "/api/v1/golden-sets/{slug}/versions/{ref}/cases.jsonl",
        "/api/v1/feedback-tokens",
        "/api/v1/feedback-tokens/{token}",
        "/api/langsmith/info",
        "/api/langsmith/runs",
        "/api/langsmith/runs/{run_id}",
        "/api/langsmith/runs/batch",
        "/api/langsmith/runs/multipart",
        "/api/langsmith/feedback",
        "/v1/traces",
    ):
        assert path in text
    assert "X-Api-Key" in text


def test_the_schema_states_which_one_of_several_fields_is_required(tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schemas = yaml.safe_load(out.read_text())["components"]["schemas"]
    for name, fields in (
        ("FeedbackEventInputRequest", ["rating", "score"]),
        ("TokenFeedbackInputRequest", ["rating", "score"]),
        ("FeedbackTokenInputRequest", ["trace_id", "run_id"]),
    ):
        assert [branch["required"] for branch in schemas[name]["anyOf"]] == [[f] for f in fields]
    # …and present means not blank (the serializers trim spaces, then test the value).
    branch = schemas["FeedbackTokenInputRequest"]["anyOf"][0]
    assert re.fullmatch(branch["properties"]["trace_id"]["pattern"], "abc")
    assert not re.search(branch["properties"]["trace_id"]["pattern"], "  ")
    assert schemas["TracesInputRequest"]["properties"]["runs"]["minItems"] == 1
    # No string a request may send can hold NUL: the server refuses it everywhere.
    name = schemas["GoldenSetCreateInputRequest"]["properties"]["name"]["pattern"]
    assert re.search(name, "refunds") and not re.search(name, "ref\x00unds")


def test_the_schema_states_langsmith_feedbacks_rating_rule_and_webhook_urls_as_checked(tmp_path):
    import yaml

    from feedback.langsmith_mapping import RATING_KEYS, THUMBS_VALUE_PATTERN
    from webhooks.url_syntax import WEBHOOK_URL_PATTERN

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schemas = yaml.safe_load(out.read_text())["components"]["schemas"]
    score, value, key = schemas["LangSmithFeedbackInputRequest"]["anyOf"]
    assert [score["required"], value["required"], key["required"]] == [
        ["score"],
        ["value"],
        ["key"],
    ]
    # The pattern the server matches a value against (feedback.langsmith_mapping._rating).
    assert value["properties"]["value"]["pattern"] == THUMBS_VALUE_PATTERN
    assert key["properties"]["key"]["enum"] == sorted(RATING_KEYS)
    url = schemas["WebhookInputRequest"]["properties"]["url"]
    assert (url["format"], url["pattern"]) == ("uri", WEBHOOK_URL_PATTERN)
