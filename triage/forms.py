import json

from django import forms

from accounts.jsonbody import JsonInvalid, json_parse

from .models import QueueItem, RubricField


class LabelForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=QueueItem.Decision.choices, widget=forms.RadioSelect)
    failure_modes = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple
    )
    new_failure_mode = forms.CharField(
        required=False, max_length=80, label="Add a failure mode to this project"
    )
    criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Pass/fail criteria",
        help_text="What a passing answer must do (and must not do).",
    )
    expected_output = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, failure_modes=(), can_add_modes=False, rubric=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["failure_modes"].choices = list(failure_modes)
        if not can_add_modes:
            del self.fields["new_failure_mode"]
        self.rubric = list(rubric)
        for field in self.rubric:
            self.fields[f"score_{field.key}"] = rubric_form_field(field)

    def rubric_fields(self):
        return [self[f"score_{field.key}"] for field in self.rubric]

    def rubric_scores(self):
        """{key: value} of the rubric fields the reviewer filled in."""
        scores = {}
        for field in self.rubric:
            value = self.cleaned_data.get(f"score_{field.key}")
            if value in (None, ""):
                continue
            scores[field.key] = value == "yes" if field.kind == "boolean" else value
        return scores


def rubric_form_field(field):
    """The form field for one project rubric field (instructions shown as help text)."""
    common = {"label": field.label, "required": field.required, "help_text": field.instructions}
    if field.kind == "numeric":
        return forms.IntegerField(
            min_value=field.min_value,
            max_value=field.max_value,
            widget=forms.NumberInput(attrs={"min": field.min_value, "max": field.max_value}),
            **common,
        )
    if field.kind == "boolean":
        choices = [("", "—"), ("yes", "Yes"), ("no", "No")]
    else:
        choices = [("", "—")] + [(c, c) for c in field.choices]
    return forms.ChoiceField(choices=choices, **common)


class RubricFieldForm(forms.Form):
    label = forms.CharField(max_length=80, label="Name")
    kind = forms.ChoiceField(choices=RubricField.Kind.choices)
    choices = forms.CharField(
        required=False,
        label="Choices",
        help_text="For a list: comma-separated, e.g. low, medium, high.",
    )
    min_value = forms.IntegerField(required=False, label="Minimum")
    max_value = forms.IntegerField(required=False, label="Maximum")
    instructions = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Shown to reviewers."
    )
    required = forms.BooleanField(required=False, label="Reviewers must fill it in")


class JSONTextField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 6, "class": "mono"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return json_parse(value)
        except JsonInvalid as exc:
            raise forms.ValidationError(exc.detail) from exc

    def prepare_value(self, value):
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value


class PromoteForm(forms.Form):
    golden_set = forms.ChoiceField(required=False, label="Golden set")
    new_golden_set = forms.CharField(required=False, label="…or a new golden set named")
    input = JSONTextField(label="Input (scrubbed)")
    expected = JSONTextField(required=False, label="Expected output")
    criteria = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, golden_sets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["golden_set"].choices = [("", "—")] + [(g.slug, g.name) for g in golden_sets]

    def clean(self):
        data = super().clean()
        if not data.get("golden_set") and not data.get("new_golden_set"):
            self.add_error("golden_set", "Pick a golden set or name a new one.")
        return data
