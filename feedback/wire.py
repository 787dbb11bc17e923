"""Request bodies as clients send them: compressed (zstd, gzip, deflate) and size-capped."""

import gzip
import io
import zlib

from django.conf import settings


class BodyError(Exception):
    def __init__(self, status, code, detail):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail

    @property
    def fields(self):
        """A body that cannot be read is a validation failure of the field `body`."""
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
