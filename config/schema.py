"""OpenAPI post-processing: what drf-spectacular cannot infer from serializers."""

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
    return result
