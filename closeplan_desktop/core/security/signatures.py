"""Ed25519 signatures between the desktop and its organisation's server: the device signs
its audit batches, and checks the server's receipts and wipe orders against the server
key pinned at enrolment (the canonical bytes are core.domain.audit_batch's)."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def verifies(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by the raw public
    key `public` (a malformed key or signature is simply not valid)."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verifies_b64(public: bytes, message: bytes, signature: object) -> bool:
    """`verifies` for a signature in base64 as the server sends it (anything that is
    not base64 text does not verify)."""
    if not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return verifies(public, message, raw)


def sign_b64(key: Ed25519PrivateKey, message: bytes) -> str:
    """An Ed25519 signature of `message`, in base64 as the server takes it."""
    return base64.b64encode(key.sign(message)).decode("ascii")
