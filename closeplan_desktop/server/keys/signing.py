"""The server's signing key: Ed25519, in a key file outside the database.

It signs audit receipts and wipe orders; the desktop pins its public key at enrolment
(published at `GET /v1/server/keys`). Like the escrow key (keys/escrow.py) it lives in a
file whose first line names it, mode 0600, owned by the OS user that runs the API (the
database never sees it). The key id is a digest of the public key, carried in every
signed object so that a key change is visible.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE_HEADER = "closeplan-signing-key v1"
ALGORITHM = "Ed25519"


def key_id(public: bytes) -> str:
    """The id of a signing key: a digest of its raw public key (32 hex digits)."""
    return hashlib.sha256(b"closeplan/signing-key|" + public).hexdigest()[:32]


@dataclass(frozen=True)
class SigningKey:
    """The server's signing key, loaded."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes_raw()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of `message` (64 bytes)."""
        return self.private.sign(message)

    def published(self) -> dict[str, str]:
        """The public half, as the API publishes it."""
        return {"key_id": self.key_id, "algorithm": ALGORITHM, "use": "signing",
                "public_key": base64.b64encode(self.public).decode("ascii")}


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public`
    (a malformed key or signature is simply not valid)."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_key_file(path: Path) -> SigningKey:
    """Make a new signing key in `path` (mode 0600, never overwritten)."""
    private = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        raw = base64.b64encode(private.private_bytes_raw()).decode("ascii")
        f.write(f"{KEY_FILE_HEADER}\n{raw}\n")
    return SigningKey(private)


def read_key_file(path: Path) -> SigningKey:
    """The key of a file made by `write_key_file`. Refuses a file that others may read
    or that is not a ClosePlan signing key file (ValueError, without its content)."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} may be read by other users; make it private "
                         f"(chmod 600 {path}).")
    head, _, body = path.read_text(encoding="ascii").partition("\n")
    if head.strip() != KEY_FILE_HEADER:
        raise ValueError(f"{path} is not a ClosePlan signing key file")
    try:
        raw = base64.b64decode(body.strip(), validate=True)
        return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))
    except ValueError:
        raise ValueError(f"{path} is damaged: its key is not a valid Ed25519 key") from None


def load_or_create(path: Path) -> SigningKey:
    """The key in `path`, made there first when the file does not exist yet."""
    if path.exists():
        return read_key_file(path)
    return write_key_file(path)
