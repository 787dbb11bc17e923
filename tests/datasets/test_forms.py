"""What a lead reads when a publish form is wrong."""

from datasets.forms import PublishForm


def test_a_tag_that_is_not_a_slug_is_refused_in_plain_words():
    form = PublishForm({"notes": "", "tag": "prod!"})
    assert not form.is_valid()
    assert form.errors["tag"] == [
        "'prod!' is not a tag: use lowercase letters, digits, hyphens or underscores. "
        "For example: prod."
    ]
    assert PublishForm({"tag": "release-2"}).is_valid()
    assert PublishForm({"tag": "release-2 prod"}).is_valid()  # several tags, one move each
