"""Rubrics: a lead configures score fields, reviewers fill them in, the export carries them."""

import json

import pytest
from django.test import Client

from tests.factories import make_item
from triage import services
from triage.models import QueueItem, RubricField


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_rubric_fields_are_validated_and_an_archived_key_comes_back(project):
    with pytest.raises(ValueError, match="at least two choices"):
        services.rubric_field_create(
            project=project, label="Tone", kind="categorical", choices=["ok"]
        )
    with pytest.raises(ValueError, match="minimum below its maximum"):
        services.rubric_field_create(
            project=project, label="Grade", kind="numeric", min_value=5, max_value=1
        )
    tone = services.rubric_field_create(
        project=project, label="Tone", kind="categorical", choices=["calm", " rude ", "calm", ""]
    )
    assert (tone.key, tone.choices) == ("tone", ["calm", "rude"])
    assert services.rubric_field_archive(project=project, key="tone")
    again = services.rubric_field_create(project=project, label="Tone", kind="boolean")
    assert (again.pk, again.active, again.kind, again.choices) == (tone.pk, True, "boolean", [])


def test_a_lead_configures_the_rubric_a_reviewer_scores_and_the_export_carries_it(
    project, reviewer, lead
):
    lena, rico = client_for(lead), client_for(reviewer)
    url = f"/p/{project.slug}/rubric/"
    for data in (
        {"label": "Harm", "kind": "categorical", "choices": "none, minor, severe",
         "instructions": "How bad could acting on the answer be?", "required": "on"},
        {"label": "Helpfulness", "kind": "numeric", "min_value": "1", "max_value": "5"},
        {"label": "Cites sources", "kind": "boolean"},
    ):  # fmt: skip
        assert lena.post(url, data).status_code == 302
    bad = lena.post(url, {"label": "Grade", "kind": "numeric"})
    assert bad.status_code == 400 and "minimum below its maximum" in bad.content.decode()
    assert rico.post(url, {"label": "Sneaky", "kind": "boolean"}).status_code == 403
    assert list(RubricField.objects.values_list("key", flat=True).order_by("position")) == [
        "harm", "helpfulness", "cites_sources",
    ]  # fmt: skip

    item = make_item(project)
    rico.post(f"/p/{project.slug}/items/{item.pk}/claim")
    page = rico.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "How bad could acting on the answer be?" in page  # instructions shown
    assert 'name="score_helpfulness"' in page and 'max="5"' in page

    label = f"/p/{project.slug}/items/{item.pk}/label"
    base = {"version": "1", "decision": "add_to_eval"}
    missing = rico.post(label, {**base, "score_helpfulness": "4"})
    assert missing.status_code == 400 and "This field is required" in missing.content.decode()
    too_high = rico.post(label, {**base, "score_harm": "minor", "score_helpfulness": "9"})
    assert too_high.status_code == 400
    ok = rico.post(
        label,
        {**base, "score_harm": "minor", "score_helpfulness": "4", "score_cites_sources": "no"},
    )
    assert ok.status_code == 302
    item.refresh_from_db()
    assert item.scores == {"harm": "minor", "helpfulness": 4, "cites_sources": False}
    # The saved scores are the form's starting point next time.
    page = rico.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert '<option value="minor" selected>' in page and 'value="4"' in page

    export = rico.get(f"/p/{project.slug}/labels.jsonl")
    assert export["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in b"".join(export.streaming_content).splitlines()]
    assert [(r["item_id"], r["decision"], r["scores"]) for r in rows] == [
        (item.pk, "add_to_eval", {"harm": "minor", "helpfulness": 4, "cites_sources": False})
    ]
    assert QueueItem.objects.get(pk=item.pk).labelled_by == reviewer

    # Removing a field takes it off the form and keeps the given scores.
    lena.post(f"{url}helpfulness/archive")
    page = rico.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert 'name="score_helpfulness"' not in page
    item.refresh_from_db()
    assert item.scores["helpfulness"] == 4
