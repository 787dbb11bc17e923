"""OpenAPI post-processing: what drf-spectacular cannot infer from serializers."""

from django.conf import settings

# Request bodies that need one of several optional fields (the serializer's validate()
# says so at runtime): component name → fields, stated as anyOf of `required` lists.
ONE_OF_REQUIRED = {
    "FeedbackEventInputRequest": ("rating", "score"),
    "TokenFeedbackInputRequest": ("rating", "score"),
    "FeedbackTokenInputRequest": ("trace_id", "run_id"),
}


# Request bodies whose serializer refuses unknown fields (feedback.serializers.StrictSerializer).
CLOSED = ("FeedbackEventInputRequest", "TokenFeedbackInputRequest", "FeedbackTokenInputRequest")


def require_one_of(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: state ONE_OF_REQUIRED and CLOSED."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, fields in ONE_OF_REQUIRED.items():
        if name in schemas:
            schemas[name]["anyOf"] = [{"required": [field]} for field in fields]
    for name in CLOSED:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    # Their bodies cannot be left out (nothing in them is required on its own).
    for path in ("/api/v1/feedback", "/api/v1/feedback-tokens", "/api/v1/feedback-tokens/{token}"):
        body = result.get("paths", {}).get(path, {}).get("post", {}).get("requestBody")
        if body is not None:
            body["required"] = True
    # The category taxonomy is a setting (TRIAGE_CATEGORIES); blank means none.
    for name in ("FeedbackEventInputRequest", "TokenFeedbackInputRequest"):
        category = schemas.get(name, {}).get("properties", {}).get("category")
        if category is not None:
            category["enum"] = ["", *settings.TRIAGE_CATEGORIES]
    return result
