"""Originals at rest: Fernet, keyed by a hash of TRIAGE_PII_KEY."""

import base64
import hashlib

from cryptography.fernet import Fernet
from django.conf import settings

# --- originals at rest ------------------------------------------------------------------


def _fernet():
    digest = hashlib.sha256(settings.TRIAGE_PII_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value):
    return _fernet().encrypt(value.encode())


def decrypt(token):
    return _fernet().decrypt(bytes(token)).decode()
