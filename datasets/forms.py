from django import forms


class PublishForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    tag = forms.SlugField(
        required=False,
        help_text="Optional, e.g. prod. Moves the tag here.",
        error_messages={
            "invalid": "A tag is one word of letters, digits, - or _ (e.g. prod or release-2)."
        },
    )
