"""Request bodies as clients send them: compressed (zstd, gzip, deflate), size-capped, multipart."""

import gzip
import io
import zlib
from dataclasses import dataclass

import multipart
from django.conf import settings
from django.utils.http import parse_header_parameters


class BodyError(Exception):
    def __init__(self, status, code, detail, field=None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field

    @property
    def fields(self):
        """The part at fault, if one is; a body that cannot be read at all is `body`."""
        if self.field:
            return {self.field: [self.detail]}
        return {"body": [self.detail]} if self.status == 400 else None


def _read_capped(stream, limit):
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BodyError(413, "body_too_large", f"Decompressed body exceeds {limit} bytes.")
    return data


def request_body_decoded(request):
    """The raw body, decompressed per Content-Encoding, never larger than the body limit.

    The limit applies after decompression too, so a small zstd bomb is a 413, not an OOM.
    """
    body = request.body
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if encoding in {"", "identity"}:
        return body
    try:
        if encoding == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body))
            return _read_capped(reader, limit)
        if encoding == "gzip":
            return _read_capped(gzip.GzipFile(fileobj=io.BytesIO(body)), limit)
        if encoding == "deflate":
            decompressor = zlib.decompressobj()
            data = decompressor.decompress(body, limit + 1)
            if len(data) > limit:
                raise BodyError(413, "body_too_large", f"Decompressed body exceeds {limit} bytes.")
            return data
    except BodyError:
        raise
    except Exception as exc:
        raise BodyError(
            400, "malformed_body", f"Could not decode the {encoding} body: {exc}"
        ) from None
    raise BodyError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported.")


@dataclass(frozen=True)
class Part:
    name: str
    content_type: str  # as sent, without parameters ("" when the part has none)
    data: bytes


def multipart_parts(body, content_type, *, max_parts):
    """A multipart/form-data body → [Part] with every part's bytes and content type intact.

    Django's parser decodes parts without a filename as text and forgets their content
    type; LangSmith attachments are exactly such parts, and may be binary. The body is
    already in memory (and capped), so the parser keeps every part in memory too.
    Raises BodyError (400 malformed, 413 too many parts).
    """
    _, params = parse_header_parameters(content_type)
    boundary = params.get("boundary", "")
    if not boundary:
        raise BodyError(400, "malformed_body", "The multipart Content-Type has no boundary.")
    parser = multipart.MultipartParser(
        io.BytesIO(body),
        boundary,
        content_length=len(body),
        strict=True,
        part_limit=max_parts,
        spool_limit=len(body) + 1,
        memory_limit=len(body) + 1,
    )
    try:
        return [
            Part(
                part.name,
                parse_header_parameters(part.headers.get("Content-Type", ""))[0],
                part.raw,
            )
            for part in parser
        ]
    except multipart.ParserLimitReached:
        raise BodyError(413, "body_too_large", f"More than {max_parts} multipart parts.") from None
    except multipart.MultipartError as exc:
        raise BodyError(400, "malformed_body", f"Unreadable multipart body: {exc}") from None
