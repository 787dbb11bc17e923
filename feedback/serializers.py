"""Input validation for the public ingest API (field names are API.md's contract)."""

import math
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
)
from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

MAX_BATCH = 1000
MAX_INT = 2**31 - 1  # the database column is a 32-bit integer


def _bad_string(text):
    if "\x00" in text:
        return "Strings may not contain NUL characters (\\u0000)."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Strings may not contain unpaired UTF-16 surrogates."
    return None


def json_storable(value):
    """Reject JSON PostgreSQL cannot store: NUL characters and unpaired surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _bad_string(item)
        elif isinstance(item, dict):
            problem = next(filter(None, (_bad_string(str(k)) for k in item)), None)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
            problem = None
        else:
            problem = None
        if problem:
            raise serializers.ValidationError(problem)
    return value


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField silently turns 5 or 3.5 into "5" / "3.5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number only: DRF's FloatField takes true as 1.0 and "0.5" as 0.5."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField takes "5", 5.0 and true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A JSON string only: DRF's UUIDField takes 0 or false as UUID(int=0)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# A cost string: up to 6 whole digits and 8 places; blank means none.
COST_PATTERN = r"^\s*(?:-?(?:\d{1,6}(?:\.\d{0,8})?|\.\d{1,8}))?\s*$"


class CostField(serializers.DecimalField):
    """A decimal string (COST_PATTERN), or a JSON number rounded to the field's places (SDKs
    send floats such as 0.000123456789); true/false are not numbers. config/schema.py states
    both, so the OpenAPI schema and this field accept the same values."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, float) and not math.isfinite(data)):
            self.fail("invalid")
        if isinstance(data, str) and not re.fullmatch(COST_PATTERN, data):
            self.fail("invalid")
        if isinstance(data, int | float):
            data = Decimal(str(round(data, self.decimal_places)))
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Rejects unknown top-level fields instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


# --- Fast path for well-formed input -------------------------------------------------------
# DRF's generic per-field machinery (get_value, run_validation, a loop over validator objects,
# a per-character surrogate scan on every CharField) costs most of a batch's time. FastPath
# accepts the common, well-formed shape with equivalent cheap checks derived from the
# serializer's own declared fields and limits; anything unusual (a wrong type, a limit
# reached, NUL, a surrogate, a missing required field, an error anywhere) goes to the full
# serializer, so every error is still DRF's, word for word.

_SLOW = object()  # "not the common case": let DRF validate (and word the errors)
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")  # what DRF's NUL + surrogate validators reject
_CHAR_VALIDATORS = (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


def _char_check(field):
    """CharField: a str within the limits, trimmed like DRF; numbers (DRF coerces them) go slow."""
    trim, allow_blank = field.trim_whitespace, field.allow_blank
    longest = math.inf if field.max_length is None else field.max_length
    shortest = field.min_length or 0

    def check(value):
        if type(value) is not str:
            return _SLOW
        if trim:
            value = value.strip()
        if not value:
            return "" if allow_blank else _SLOW
        if (
            not shortest <= len(value) <= longest
            or "\x00" in value
            # ASCII holds no surrogate: the regex scan (5× the cost) only for other text
            or (not value.isascii() and _UNSAFE_TEXT.search(value))
        ):
            return _SLOW
        return value

    return check


def _choice_check(field):
    choices = {key: value for key, value in field.choice_strings_to_values.items() if key}

    def check(value):
        return choices.get(value, _SLOW) if type(value) is str else _SLOW

    return check


def _float_check(field):
    """FloatField: a finite int/float inside [min_value, max_value]; strings and bools go slow."""
    low = -math.inf if field.min_value is None else field.min_value
    high = math.inf if field.max_value is None else field.max_value

    def check(value):
        if type(value) not in (int, float):
            return _SLOW
        number = float(value)  # OverflowError (a huge int) means slow, see FastPath._fast
        return number if math.isfinite(number) and low <= number <= high else _SLOW

    return check


def _dict_check(field):
    """DictField of anything (DictField()): DRF returns a copy with str keys."""
    allow_empty = field.allow_empty

    def check(value):
        if type(value) is not dict or not (value or allow_empty):
            return _SLOW
        if not all(type(key) is str for key in value):
            return _SLOW
        return dict(value)

    return check


def _field_check(field):
    """A cheap equivalent of field.run_validation for well-formed values, or None if we have
    none for this field (then the field's own run_validation runs, still inside the fast path)."""
    kind, validators = type(field), [type(v) for v in field.validators]
    if kind in (serializers.CharField, StrictCharField) and all(
        v in _CHAR_VALIDATORS for v in validators
    ):
        return _char_check(field)
    if kind is serializers.ChoiceField and not validators:
        return _choice_check(field)
    if kind in (serializers.FloatField, StrictFloatField) and all(
        v in (fields.MaxValueValidator, fields.MinValueValidator) for v in validators
    ):
        return _float_check(field)
    if (
        kind is serializers.DictField
        and type(field.child) is fields._UnvalidatedField
        and not validators
    ):
        return _dict_check(field)
    return None


class FastPath:
    """Validates like `serializer.run_validation`, cheaper for the common well-formed input.

    Only for StrictSerializer subclasses with plain fields (no sources, defaults or
    serializer-level validators); run_validation keeps no state, so one instance is reusable.
    """

    def __init__(self, serializer):
        # What the fast path reproduces: StrictSerializer's to_internal_value, DRF's
        # run_validation, no serializer-level validators.
        assert isinstance(serializer, StrictSerializer) and not serializer.validators
        assert type(serializer).to_internal_value is StrictSerializer.to_internal_value
        assert type(serializer).run_validation is serializers.Serializer.run_validation
        self.serializer = serializer
        self.names = frozenset(serializer.fields)
        self.steps = []  # (name, required, check, validate_<name> method) in declared order
        for name, field in serializer.fields.items():
            assert not field.read_only and field.source == name and field.default is fields.empty
            check = _field_check(field) or field.run_validation
            self.steps.append(
                (name, field.required, check, getattr(serializer, f"validate_{name}", None))
            )

    def run_validation(self, data):
        attrs = self._fast(data)
        return self.serializer.run_validation(data) if attrs is _SLOW else attrs

    def _fast(self, data):
        if type(data) is not dict or not data.keys() <= self.names:
            return _SLOW
        attrs = {}
        try:
            for name, required, check, validate_method in self.steps:
                if name not in data:
                    if required:
                        return _SLOW
                    continue
                value = check(data[name])
                if value is _SLOW:
                    return _SLOW
                attrs[name] = value if validate_method is None else validate_method(value)
            return self.serializer.validate(attrs)
        except (
            serializers.ValidationError,
            DjangoValidationError,
            fields.SkipField,
            OverflowError,
        ):
            return _SLOW


class FeedbackEventInput(StrictSerializer):
    id = StrictCharField(max_length=128, required=False)
    trace_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    run_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    session_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    message_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    user_id = StrictCharField(max_length=256, required=False, allow_blank=True)
    rating = serializers.ChoiceField(choices=["down", "up"], required=False)
    score = StrictFloatField(min_value=0, max_value=1, required=False)
    category = StrictCharField(max_length=32, required=False, allow_blank=True)
    comment = StrictCharField(
        max_length=10_000, required=False, allow_blank=True, trim_whitespace=False
    )
    prompt_hash = StrictCharField(max_length=128, required=False, allow_blank=True)
    model_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    customer_tier = StrictCharField(max_length=32, required=False, allow_blank=True)
    locale = StrictCharField(max_length=32, required=False, allow_blank=True)
    intent = StrictCharField(max_length=128, required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=["explicit", "implicit", "auto"], required=False)
    created_at = serializers.DateTimeField(required=False)
    metadata = serializers.DictField(required=False)

    def validate_metadata(self, value):
        return json_storable(value)

    def validate_category(self, value):
        allowed = settings.TRIAGE_CATEGORIES
        if value and value not in allowed:
            raise serializers.ValidationError(
                f"'{value}' is not a category; allowed: {', '.join(allowed)}."
            )
        return value

    def validate(self, attrs):
        if "rating" not in attrs and "score" not in attrs:
            raise serializers.ValidationError(
                {"rating": ["One of 'rating' or 'score' is required."]}
            )
        return attrs


@extend_schema_field({"anyOf": [{"type": "number"}, {"type": "boolean"}]})
class ScoreField(serializers.Field):
    """A JSON number or boolean (LangSmith's score), kept as sent."""

    default_error_messages = {"invalid": "Must be a number or a boolean."}

    def to_internal_value(self, data):
        if not isinstance(data, int | float):  # bool is an int
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def _langsmith_text(**kwargs):
    # Kept as sent (untrimmed): feedback.langsmith maps the request body itself.
    return StrictCharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, **kwargs
    )


class LangSmithFeedbackSource(serializers.Serializer):
    type = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)


class LangSmithFeedbackInput(serializers.Serializer):
    """The `langsmith` SDK's feedback (`FeedbackCreate`); unknown fields are ignored."""

    # config/schema.py adds that a rating must be derivable (feedback.langsmith_mapping._rating).

    id = _langsmith_text(max_length=128)
    run_id = _langsmith_text(max_length=128)
    trace_id = _langsmith_text(max_length=128)
    session_id = _langsmith_text(max_length=128)
    key = _langsmith_text(max_length=200)
    score = ScoreField(required=False, allow_null=True)
    value = serializers.JSONField(required=False, allow_null=True)
    comment = _langsmith_text(max_length=10_000)
    correction = serializers.JSONField(required=False, allow_null=True)
    feedback_source = LangSmithFeedbackSource(required=False, allow_null=True)
    created_at = serializers.DateTimeField(required=False, allow_null=True)


class FeedbackBatchInput(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=MAX_BATCH
    )


class RunInput(serializers.Serializer):
    """A run in LangSmith's shape. Every field but `id` is optional so a patch can be partial."""

    id = StrictCharField(max_length=128)
    trace_id = StrictCharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    parent_run_id = StrictCharField(
        max_length=128, required=False, allow_blank=True, allow_null=True
    )
    name = StrictCharField(max_length=300, required=False, allow_blank=True, allow_null=True)
    run_type = serializers.ChoiceField(
        choices=["llm", "chain", "tool", "retriever", "prompt", "parser", "embedding"],
        required=False,
    )
    inputs = serializers.JSONField(required=False, allow_null=True)
    outputs = serializers.JSONField(required=False, allow_null=True)
    error = StrictCharField(required=False, allow_blank=True, allow_null=True)
    start_time = serializers.DateTimeField(required=False, allow_null=True)
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    tags = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    extra = serializers.DictField(required=False, allow_null=True)
    prompt_tokens = StrictIntegerField(
        min_value=0, max_value=MAX_INT, required=False, allow_null=True
    )
    completion_tokens = StrictIntegerField(
        min_value=0, max_value=MAX_INT, required=False, allow_null=True
    )
    total_tokens = StrictIntegerField(
        min_value=0, max_value=MAX_INT, required=False, allow_null=True
    )
    total_cost = CostField(max_digits=14, decimal_places=8, required=False, allow_null=True)
    model = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    stop_reason = StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    documents = serializers.ListField(
        child=serializers.DictField(), required=False, allow_null=True
    )
    dotted_order = StrictCharField(
        max_length=2000, required=False, allow_blank=True, allow_null=True
    )
    # LangSmith: the tracing project (by id or name) and, for an experiment run, the example.
    session_id = StrictUUIDField(required=False, allow_null=True, format="hex_verbose")
    session_name = StrictCharField(
        max_length=300, required=False, allow_blank=True, allow_null=True
    )
    reference_example_id = StrictUUIDField(required=False, allow_null=True, format="hex_verbose")

    def validate_inputs(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be an object.")
        return json_storable(value)

    def validate_outputs(self, value):
        return json_storable(value)

    def validate_extra(self, value):
        return json_storable(value)

    def validate_documents(self, value):
        return json_storable(value)

    def validate_tags(self, value):
        return json_storable(value)


class TracesInput(serializers.Serializer):
    runs = RunInput(many=True, allow_empty=False, max_length=MAX_BATCH)


class FeedbackTokenInput(StrictSerializer):
    trace_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    run_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    expires_in = serializers.IntegerField(
        min_value=60, max_value=7 * 24 * 3600, required=False, default=3600,
        help_text="Seconds until the token expires (60 s to 7 days; default 1 hour).",
    )  # fmt: skip

    def validate(self, attrs):
        if not attrs.get("trace_id") and not attrs.get("run_id"):
            raise serializers.ValidationError(
                {"trace_id": ["One of 'trace_id' or 'run_id' is required."]}
            )
        return attrs


class TokenFeedbackInput(StrictSerializer):
    """What a browser may send with a feedback token: the token fixes trace and run."""

    id = StrictCharField(max_length=128, required=False)
    rating = serializers.ChoiceField(choices=["down", "up"], required=False)
    score = StrictFloatField(min_value=0, max_value=1, required=False)
    category = StrictCharField(max_length=32, required=False, allow_blank=True)
    comment = StrictCharField(
        max_length=10_000, required=False, allow_blank=True, trim_whitespace=False
    )
    message_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    session_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    locale = StrictCharField(max_length=32, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)
