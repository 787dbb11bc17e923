"""Pages for reviewers: downloading a run attachment from the trace replay."""

import logging
import mimetypes

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404

from accounts.audit import audit_record
from accounts.selectors import membership_can_reveal_pii, membership_get

from .models import RunAttachment

logger = logging.getLogger(__name__)


@login_required
def attachment_download(request, project_slug, pk):
    """A binary attachment of one of the project's runs, for members who may see originals.

    It is unscrubbed production data (a photo, a PDF), so like revealing a placeholder it
    needs `triage.reveal_pii` and the lead/admin role in this project, and each download is
    logged and audited. Text attachments are never
    served (404). The download is forced (never rendered here) and sandboxed.
    """
    membership = membership_get(user=request.user, project_slug=project_slug)
    if not membership_can_reveal_pii(membership=membership):
        raise PermissionDenied(
            "Downloading an original attachment needs the reveal_pii permission "
            "and the lead role in this project."
        )
    attachment = get_object_or_404(
        RunAttachment.objects.select_related("run"),
        pk=pk,
        run__project=membership.project,
        is_text=False,
    )
    if attachment.run.raw_purged_at is not None:
        return HttpResponse(
            "This attachment's bytes were deleted: raw data is kept "
            f"{settings.TRIAGE_RAW_RETENTION_DAYS} days (TRIAGE_RAW_RETENTION_DAYS).",
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    logger.info("user %s downloaded run attachment %s", request.user.pk, attachment.pk)
    # A GET under autocommit: the row is written before the bytes go out.
    audit_record(action="attachment.download", target=attachment, project=membership.project)
    extension = mimetypes.guess_extension(attachment.content_type) or ".bin"
    response = HttpResponse(bytes(attachment.content), content_type=attachment.content_type)
    response["Content-Disposition"] = f'attachment; filename="attachment-{pk}{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response
