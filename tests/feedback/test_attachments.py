"""LangSmith run attachments: stored from the real SDK, offered to reviewers safely."""

import langsmith
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from langsmith import traceable
from langsmith import utils as ls_utils
from langsmith.run_helpers import get_current_run_tree
from langsmith.schemas import Attachment

from accounts.models import AuditEntry
from feedback.attachments import attachment_is_text
from feedback.models import Run, RunAttachment
from tests.factories import FeedbackEventFactory, MembershipFactory, RunFactory, api_key_for
from tests.support import multipart_body
from triage.models import Cluster, QueueItem
from triage.scrubbing import queue_item_scrub

pytestmark = pytest.mark.django_db(transaction=True)

# A real PNG header and chunk: binary bytes (NULs, CR/LF) that must survive byte for byte.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
TRANSCRIPT = b"Agent: hello Maria Gonzalez, your card 4111 1111 1111 1111 is refunded."


@traceable(name="read_receipt")
def read_receipt(question: str, receipt: Attachment, transcript: Attachment, ids: dict):
    ids["root"] = str(get_current_run_tree().id)
    return {"answer": "The receipt shows a refund."}


def _trace_with_attachments(ls_client):
    client, ids = ls_client(), {}
    with langsmith.tracing_context(enabled=True, client=client):
        read_receipt(
            "What does the receipt say?",
            Attachment(mime_type="image/png", data=PNG),
            # Declared binary, but the bytes are text: it must still count as text.
            Attachment(mime_type="application/octet-stream", data=TRANSCRIPT),
            ids,
        )
    client.flush()
    return ids["root"]


@pytest.mark.parametrize("compressed", [True, False], ids=["zstd", "uncompressed"])
def test_sdk_attachments_are_stored_with_their_run(ls_client, project, monkeypatch, compressed):
    if not compressed:
        monkeypatch.setenv("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")
        ls_utils.get_env_var.cache_clear()
    root_id = _trace_with_attachments(ls_client)

    run = Run.objects.get(project=project, run_id=root_id)
    assert run.inputs == {"question": "What does the receipt say?", "ids": {}}
    stored = {a.name: a for a in RunAttachment.objects.filter(run=run)}
    assert set(stored) == {"receipt", "transcript"}
    receipt, transcript = stored["receipt"], stored["transcript"]
    assert (receipt.content_type, receipt.size, receipt.is_text) == ("image/png", len(PNG), False)
    assert bytes(receipt.content) == PNG
    assert (transcript.content_type, transcript.is_text) == ("application/octet-stream", True)
    assert bytes(transcript.content) == TRANSCRIPT


def _post_multipart(project, body):
    api = Client(headers={"X-Api-Key": api_key_for(project, scopes=["ingest"])})
    return api.post(
        "/api/langsmith/runs/multipart", data=body, content_type="multipart/form-data; boundary=b"
    )


def test_an_attachment_over_the_limit_is_413_naming_the_part(project, settings):
    settings.TRIAGE_ATTACHMENT_MAX_BYTES = 1000
    body = multipart_body(
        ("post.r1", "application/json", b'{"name": "ocr", "run_type": "tool", "trace_id": "r1"}'),
        ("attachment.r1.small", "image/png", PNG),
        ("attachment.r1.scan", "image/png", b"\x00" * 1001),
    )
    response = _post_multipart(project, body)
    assert response.status_code == 413
    error = response.json()
    assert error["error"] == "attachment_too_large"
    assert "'attachment.r1.scan'" in error["detail"] and "1000" in error["detail"]
    assert list(error["fields"]) == ["attachment.r1.scan"]
    assert not Run.objects.exists() and not RunAttachment.objects.exists()  # all or nothing


def test_an_attachment_of_an_unknown_run_is_400_naming_the_part(project):
    RunFactory(project=project, run_id="known")
    body = multipart_body(
        ("attachment.known.a", "image/png", PNG),  # a run stored earlier: fine
        ("attachment.ghost.b", "image/png", PNG),
    )
    response = _post_multipart(project, body)
    assert response.status_code == 400
    assert "ghost" in response.json()["fields"]["attachment.ghost.b"][0]
    assert not RunAttachment.objects.exists()


def test_an_attachment_sent_again_replaces_the_first(project):
    RunFactory(project=project, run_id="r1")
    assert (
        _post_multipart(project, multipart_body(("attachment.r1.a", "image/png", PNG))).status_code
        == 202
    )
    again = multipart_body(("attachment.r1.a", "image/jpeg", b"\xff\xd8\xff\x00jpeg"))
    assert _post_multipart(project, again).status_code == 202
    (stored,) = RunAttachment.objects.all()
    assert (stored.content_type, bytes(stored.content)) == ("image/jpeg", b"\xff\xd8\xff\x00jpeg")


@pytest.mark.parametrize(
    ("content_type", "data", "is_text"),
    [
        ("image/png", PNG, False),
        ("application/pdf", b"%PDF-1.7\n\x00\x01\x02\x03binary stream", False),
        ("text/csv", b"name,card\n", True),
        ("application/json", b"{}", True),
        ("image/svg+xml", b"<svg/>", True),  # text, and active content besides
        ("application/octet-stream", "Jöhn, Straße 5".encode("latin-1"), True),
        ("image/png", b"\xff\xfeH\x00i\x00", True),  # UTF-16 text behind a binary label
        ("application/octet-stream", b"", True),
    ],
)
def test_text_is_recognised_by_declared_type_or_by_its_bytes(content_type, data, is_text):
    assert attachment_is_text(content_type, data) is is_text


# --- what reviewers get ------------------------------------------------------------------


def _queue_item_for(project, trace_id):
    cluster = Cluster.objects.create(project=project, fingerprint="att", event_count=1)
    FeedbackEventFactory(project=project, cluster=cluster, trace_id=trace_id, comment="wrong")
    return queue_item_scrub(item=QueueItem.objects.create(project=project, cluster=cluster))


def test_reviewers_download_binary_attachments_and_see_only_metadata_of_text(
    ls_client, project, other_project
):
    root_id = _trace_with_attachments(ls_client)
    item = _queue_item_for(project, root_id)
    receipt = RunAttachment.objects.get(name="receipt")
    transcript = RunAttachment.objects.get(name="transcript")
    membership = MembershipFactory(project=project, role="lead", user__username="rico")
    reviewer = membership.user
    client = Client()
    client.force_login(reviewer)
    page = f"/p/{project.slug}/items/{item.pk}/"
    link = f"/p/{project.slug}/attachments/{receipt.pk}"

    # An original file is unscrubbed data: without the reveal permission, no link and 403.
    html = client.get(page).content.decode()
    assert "attachment 1 <span" in html and "needs the reveal permission" in html
    assert link not in html
    assert client.get(link).status_code == 403

    reviewer.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    client.force_login(User.objects.get(pk=reviewer.pk))  # fresh permission cache
    html = client.get(page).content.decode()
    assert f'href="{link}" download>attachment 1</a> · image/png · {len(PNG)}' in html
    assert "attachment 2 <span" in html and "text, not shown" in html
    assert f"/attachments/{transcript.pk}" not in html
    assert "Maria" not in html and "4111" not in html  # the transcript's text never shows

    download = client.get(link)
    assert download.status_code == 200 and download.content == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"] == f'attachment; filename="attachment-{receipt.pk}.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Security-Policy"].startswith("sandbox")
    # Text is never served, even to members who guess its id.
    assert client.get(f"/p/{project.slug}/attachments/{transcript.pk}").status_code == 404

    outsider = Client()
    otto = MembershipFactory(project=other_project, role="lead", user__username="otto").user
    otto.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    outsider.force_login(otto)
    assert outsider.get(link).status_code == 404  # not a member of the run's project
    elsewhere = f"/p/{other_project.slug}/attachments/{receipt.pk}"
    assert outsider.get(elsewhere).status_code == 404  # the run is not in their project
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_attachment_download_depends_on_the_role_in_the_runs_project(
    ls_client, project, other_project
):
    """The reveal permission is global; a lead elsewhere is only a reviewer here."""
    root_id = _trace_with_attachments(ls_client)
    item = _queue_item_for(project, root_id)
    receipt = RunAttachment.objects.get(name="receipt")
    run_b = RunFactory(project=other_project, run_id="b-run", trace_id="b-run")
    own = RunAttachment.objects.create(
        run=run_b, name="own", content_type="image/png", size=len(PNG), is_text=False, content=PNG
    )
    lena = MembershipFactory(project=other_project, role="lead", user__username="lena").user
    MembershipFactory(project=project, role="reviewer", user=lena)
    lena.user_permissions.add(Permission.objects.get(codename="reveal_pii"))
    client = Client()
    client.force_login(lena)

    # Reviewer in `project`: no link on the item page, and the download is refused.
    html = client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode()
    assert "needs the reveal permission" in html
    assert f"/attachments/{receipt.pk}" not in html
    refused = client.get(f"/p/{project.slug}/attachments/{receipt.pk}")
    assert refused.status_code == 403 and PNG not in refused.content
    assert not AuditEntry.objects.filter(action="attachment.download").exists()
    # Lead in `other_project`: the download works there, and is audited.
    allowed = client.get(f"/p/{other_project.slug}/attachments/{own.pk}")
    assert allowed.status_code == 200 and allowed.content == PNG
    (entry,) = AuditEntry.objects.filter(action="attachment.download")
    assert (entry.actor_user, entry.project, entry.target_type, entry.target_id) == (
        lena,
        other_project,
        "runattachment",
        str(own.pk),
    )
