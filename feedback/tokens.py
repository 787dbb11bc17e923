"""Browser-safe feedback tokens, like LangSmith's presigned feedback tokens.

An app mints a token with its API key for one trace (or run) and hands it to its front
end; the front end posts a thumbs-down with only the token. The token is signed with the
server's secret, names its project, key, trace/run and expiry, and is useless for
anything else. Revoking the key that minted it revokes the token; a single token is revoked
with DELETE /api/v1/feedback-tokens/<token> (remembered until it would have expired).
"""

import hashlib
import json
import time

from django.core import signing

SALT = "triage.feedback-token"
PREFIX = "fbt_"


class TokenInvalid(Exception):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code, self.detail = code, detail


def feedback_token_encode(*, key_id, trace_id, run_id, expires_at):
    payload = {"k": key_id, "t": trace_id, "r": run_id, "e": int(expires_at)}
    return PREFIX + signing.dumps(payload, salt=SALT, compress=True)


def feedback_token_decode(token, *, now=None, check_expiry=True):
    """The token's payload {k, t, r, e}; raises TokenInvalid (bad signature or expired)."""
    if not token.startswith(PREFIX):
        raise TokenInvalid("invalid_token", "This is not a feedback token.")
    try:
        payload = signing.loads(token[len(PREFIX) :], salt=SALT)
    except signing.BadSignature:
        raise TokenInvalid("invalid_token", "The feedback token is invalid.") from None
    if check_expiry and (time.time() if now is None else now) >= payload["e"]:
        raise TokenInvalid("token_expired", "The feedback token has expired.")
    return payload


def feedback_token_hash(payload):
    """A token's identity for revocation: its signed payload, not its spelling (a token
    re-signed under a rotated SECRET_KEY is still the same token)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
