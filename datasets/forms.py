import json
import re

from django import forms
from django.conf import settings

from accounts.jsonbody import JsonInvalid, json_parse

from . import services
from .importing import TAG_RE
from .models import Case


def _words(value):
    return [w for w in re.split(r"[\s,]+", value or "") if w]


class PublishForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    tag = forms.CharField(
        required=False,
        max_length=200,
        help_text="Optional, e.g. prod candidate. Moves those tags here.",
    )

    def clean_tag(self):
        tags = _words(self.cleaned_data["tag"])
        for tag in tags:
            try:
                services.tag_validate(tag)
            except services.InvalidInput as exc:
                raise forms.ValidationError(exc.fields["tag"]) from exc
        return tags


class GoldenSetForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=50, help_text="What CI uses in the URL, e.g. refunds.")


class TagMoveForm(forms.Form):
    tag = forms.CharField(max_length=50, help_text="e.g. prod")
    version = forms.TypedChoiceField(coerce=int, choices=())

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v, f"v{v}") for v in versions]

    def clean_tag(self):
        try:
            return services.tag_validate(self.cleaned_data["tag"])
        except services.InvalidInput as exc:
            raise forms.ValidationError(exc.fields["tag"]) from exc


class ImportForm(forms.Form):
    file = forms.FileField(help_text="cases.jsonl (one case a line) or .csv with the same columns.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.TRIAGE_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {limit} bytes; split it.")
        return upload


class JsonField(forms.CharField):
    """A JSON object typed into a textarea; empty → None when not required."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "mono"})

    def prepare_value(self, value):
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, indent=2)
        return value

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            parsed = json_parse(value)
        except JsonInvalid as exc:
            raise forms.ValidationError(exc.detail) from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Must be a JSON object, e.g. {"question": "…"}.')
        return parsed


class CaseEditForm(forms.Form):
    input = JsonField()
    expected = JsonField(required=False)
    criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, strip=False
    )
    tags = forms.CharField(required=False, help_text="Slugs, space- or comma-separated.")
    failure_mode = forms.CharField(required=False, max_length=32)
    split = forms.ChoiceField(choices=Case.Split.choices)

    @classmethod
    def for_case(cls, case):
        return cls(
            initial={
                "input": case.input,
                "expected": case.expected,
                "criteria": case.criteria,
                "tags": " ".join(case.tags),
                "failure_mode": case.failure_mode,
                "split": case.split,
            }
        )

    def clean_criteria(self):
        # Browsers send textarea lines as CRLF: an unchanged form must not be a change.
        return self.cleaned_data["criteria"].replace("\r\n", "\n")

    def clean_tags(self):
        tags = _words(self.cleaned_data["tags"])
        bad = [t for t in tags if not TAG_RE.fullmatch(t)]
        if bad:
            raise forms.ValidationError(
                f"Not a tag: {', '.join(bad)}. Use lowercase letters, digits, '-' or '_'."
            )
        return list(dict.fromkeys(tags))


class CaseStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Case.Status.choices)


class SplitForm(forms.Form):
    split = forms.ChoiceField(choices=Case.Split.choices)
