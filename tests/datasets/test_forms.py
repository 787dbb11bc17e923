"""What a lead reads when a publish form is wrong."""

from datasets.forms import PublishForm


def test_a_tag_that_is_not_one_word_is_refused_in_plain_words():
    form = PublishForm({"notes": "", "tag": "prod env"})
    assert not form.is_valid()
    assert form.errors["tag"] == [
        "A tag is one word of letters, digits, - or _ (e.g. prod or release-2)."
    ]
    assert PublishForm({"tag": "release-2"}).is_valid()
