import json

from django import forms

from .models import QueueItem


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

    def __init__(self, *args, failure_modes=(), can_add_modes=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["failure_modes"].choices = list(failure_modes)
        if not can_add_modes:
            del self.fields["new_failure_mode"]


class JSONTextField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 6, "class": "mono"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from exc

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
