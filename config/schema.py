"""OpenAPI post-processing: what drf-spectacular cannot infer from serializers."""

from django.conf import settings

from feedback.langsmith_mapping import RATING_KEYS, RUN_PASSTHROUGH, THUMBS_VALUE_PATTERN
from feedback.serializers import COST_PATTERN

# Request bodies that need one of several optional fields (the serializer's validate()
# says so at runtime): component name → fields, stated as anyOf of `required` lists.
ONE_OF_REQUIRED = {
    "FeedbackEventInputRequest": ("rating", "score"),
    "TokenFeedbackInputRequest": ("rating", "score"),
    "FeedbackTokenInputRequest": ("trace_id", "run_id"),
}

# LangSmith feedback must yield a rating (feedback.langsmith_mapping._rating, same pattern
# and keys): a score that is a number or boolean, else a thumbs word as value, else a
# thumbs key.
RATING_DERIVABLE = [
    {
        "required": ["score"],
        "properties": {"score": {"anyOf": [{"type": "number"}, {"type": "boolean"}]}},
    },
    {
        "required": ["value"],
        "properties": {"value": {"type": "string", "pattern": THUMBS_VALUE_PATTERN}},
    },
    {"required": ["key"], "properties": {"key": {"type": "string", "enum": sorted(RATING_KEYS)}}},
]

# Request bodies whose serializer refuses an empty list: component → list fields.
NOT_EMPTY = {"TracesInputRequest": ("runs",)}

# Costs (feedback.serializers.CostField): a decimal string or a JSON number, rounded to 8
# places; 6 whole digits fit.
COST_NUMBER = {"type": "number", "minimum": -999999, "maximum": 999999}
COSTS = {"RunInputRequest": ("total_cost",)}

# JSONFields whose validate_<name>() wants an object (or null): component → fields.
OBJECTS = {"RunInputRequest": ("inputs",)}

# accounts.jsonbody refuses NUL in any string (PostgreSQL cannot store it), and a CharField
# that may not be blank trims spaces first: say so on every string a request body declares.
NUL_FREE = "^[^\\u0000]*$"
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


# Free-form JSON (metadata, inputs, unknown fields the server ignores) is NUL-free too.
JSON_VALUE = {"$ref": "#/components/schemas/NulFreeJson"}
NUL_FREE_JSON = {
    "nullable": True,
    "anyOf": [
        {"type": "string", "pattern": NUL_FREE},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": JSON_VALUE},
        {"type": "object", "additionalProperties": JSON_VALUE},
    ],
}
FREE_FORM = ({}, {"nullable": True}, {"additionalProperties": {}})


def _state_strings(schema):
    """Give each plain string in a request body schema the pattern the server enforces, and
    every free-form value (any JSON, or an object's unknown fields) NUL-free JSON."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "string" and not ({"pattern", "enum", "format"} & set(node)):
            node["pattern"] = NOT_BLANK if node.get("minLength", 0) >= 1 else NUL_FREE
        if node.get("type") == "object" and node.get("additionalProperties", True) in ({}, True):
            node["additionalProperties"] = JSON_VALUE
        for key in ("properties", "items"):
            children = node.get(key)
            if key == "items" and children in FREE_FORM:
                node[key] = JSON_VALUE
            elif key == "properties" and isinstance(children, dict):
                for name, child in children.items():
                    if child in FREE_FORM:
                        children[name] = JSON_VALUE
        stack.extend(value for value in node.values() if isinstance(value, dict | list))


def _langsmith_run(run_input):
    """A run as the LangSmith SDK sends it (feedback.langsmith_mapping.run_from_langsmith):
    RunInput's passthrough fields, each but `id` nullable (null means "not given"), others
    ignored."""
    properties = {}
    for name in RUN_PASSTHROUGH:
        field = run_input["properties"][name]
        if name != "id":
            field = (
                {**field, "nullable": True}
                if "$ref" not in field
                else {
                    "nullable": True,
                    "allOf": [field],
                }
            )
        properties[name] = field
    # A structured error (object or list) is stored as its JSON text.
    properties["error"] = {
        "nullable": True,
        "anyOf": [
            {k: v for k, v in properties["error"].items() if k != "nullable"},
            {"type": "object", "additionalProperties": JSON_VALUE},
            {"type": "array", "items": JSON_VALUE},
        ],
    }
    return {
        "type": "object",
        "description": "A LangSmith run; unknown fields are ignored.",
        "properties": properties,
        "required": ["id"],
        "additionalProperties": JSON_VALUE,
    }


# Request bodies whose serializer refuses unknown fields (feedback.serializers.StrictSerializer).
CLOSED = ("FeedbackEventInputRequest", "TokenFeedbackInputRequest", "FeedbackTokenInputRequest")


def require_one_of(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: state ONE_OF_REQUIRED and CLOSED."""
    schemas = result.get("components", {}).get("schemas", {})
    schemas["NulFreeJson"] = NUL_FREE_JSON
    for name, fields in ONE_OF_REQUIRED.items():
        if name in schemas:
            # Present and not blank: the serializer's validate() tests the value.
            schemas[name]["anyOf"] = [
                {"required": [field], "properties": {field: {"pattern": NOT_BLANK}}}
                for field in fields
            ]
    if "LangSmithFeedbackInputRequest" in schemas:
        schemas["LangSmithFeedbackInputRequest"]["anyOf"] = RATING_DERIVABLE
    for name, fields in COSTS.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field in fields:
            if field in properties:
                as_string = {"type": "string", "pattern": COST_PATTERN}
                properties[field] = {"nullable": True, "anyOf": [as_string, COST_NUMBER]}
    for name, fields in OBJECTS.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field in fields:
            if field in properties:
                properties[field] = {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": JSON_VALUE,
                }
    for name, fields in NOT_EMPTY.items():
        for field in fields:
            schemas.get(name, {}).get("properties", {}).get(field, {})["minItems"] = 1
    for name, schema in schemas.items():
        if name.endswith("Request"):
            _state_strings(schema)
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                _state_strings(operation["requestBody"])
    if "RunInputRequest" in schemas:
        schemas["LangSmithRun"] = _langsmith_run(schemas["RunInputRequest"])
        run = {"$ref": "#/components/schemas/LangSmithRun"}
        for field in ("post", "patch"):
            schemas.get("LangSmithBatchRequest", {}).get("properties", {}).get(field, {})[
                "items"
            ] = run
        body = result.get("paths", {}).get("/api/langsmith/runs", {}).get("post", {})
        if "requestBody" in body:
            body["requestBody"] = {
                "content": {"application/json": {"schema": run}},
                "required": True,
            }
    for name in CLOSED:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    # Their bodies cannot be left out (nothing in them is required on its own).
    # (An OTLP export without a body has no content type either: 415.)
    for path in (
        "/api/v1/feedback",
        "/api/v1/feedback-tokens",
        "/api/v1/feedback-tokens/{token}",
        "/v1/traces",
        "/api/langsmith/sessions",
        "/api/langsmith/feedback",
        "/api/langsmith/runs/multipart",
    ):
        body = result.get("paths", {}).get(path, {}).get("post", {}).get("requestBody")
        if body is not None:
            body["required"] = True
    # The category taxonomy is a setting (TRIAGE_CATEGORIES); blank means none.
    for name in ("FeedbackEventInputRequest", "TokenFeedbackInputRequest"):
        category = schemas.get(name, {}).get("properties", {}).get("category")
        if category is not None:
            category["enum"] = ["", *settings.TRIAGE_CATEGORIES]
    return result
