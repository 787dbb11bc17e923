"""Run attachments (LangSmith `attachments`): what a part is, and whether it reads as text.

Text attachments (a transcript, a CSV, a JSON dump) can carry personal data that the
scrubber never saw, so reviewers only ever get their metadata. Binary ones (images,
audio, PDFs) are offered for download. When in doubt a part counts as text: the declared
content type is the client's word, so the bytes are checked too.
"""

import re
from dataclasses import dataclass

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
_TEXT_TYPES = (
    "application/json", "application/xml", "application/javascript", "application/ecmascript",
    "application/x-yaml", "application/yaml", "application/x-ndjson", "application/jsonl",
    "application/csv", "application/sql", "application/x-sh", "application/rtf",
    "application/x-www-form-urlencoded", "application/graphql", "message/rfc822",
)  # fmt: skip
_TEXT_SUFFIXES = ("+json", "+xml", "+yaml")
# Bytes that plain text (in any 8-bit encoding) almost never holds: C0 controls other than
# tab, newline, form feed, carriage return, backspace and escape, plus DEL.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\f\r\b\x1b") + b"\x7f"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE/BE (and UTF-32 LE)
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class IncomingAttachment:
    part: str  # the multipart part it came in, for error messages
    run_id: str
    name: str
    content_type: str
    data: bytes


def attachment_content_type(declared):
    """The declared media type if it is a plain `type/subtype`, else octet-stream."""
    declared = (declared or "").strip().lower()
    return declared if _MEDIA_TYPE.match(declared) else "application/octet-stream"


def attachment_is_text(content_type, data):
    """True when the attachment is (or may be) text: declared so, or its bytes read so."""
    if (
        content_type.startswith("text/")
        or content_type in _TEXT_TYPES
        or content_type.endswith(_TEXT_SUFFIXES)
    ):
        return True
    sample = data[:SNIFF_BYTES]
    if sample.startswith(_BOMS):
        return True
    if b"\x00" in sample:
        return False
    odd = len(sample) - len(sample.translate(None, _CONTROL))
    return odd <= len(sample) // 100  # under 1 % control bytes: text in some encoding
