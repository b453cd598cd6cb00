"""Server escrow: the server as one more grantee of a tenant's PHI keys.

A tenant that chooses escrow wraps each PHI key version for the server's X25519 public
key with HPKE (RFC 9180 base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM; 80 bytes) and stores the result in `key_grants` (grantee_kind SERVER,
grantee_id = the server key's id). The info string binds the tenant and the key version,
so a grant copied to another tenant or version does not open. The server's private key
lives in a key file outside the database, readable only by the database server's OS
user; `decrypt_phi` (migration 0003) reads it and opens grants with the same scheme.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

# The wrapping is the desktop's too (one implementation, in core).
from ...core.security.crypto import grant_info, key_id, public_raw, unwrap_key, wrap_key

__all__ = ["GRANTEE_SERVER", "KEY_FILE_HEADER", "grant_info", "key_id", "public_raw",
           "read_key_file", "unwrap_key", "wrap_key", "write_key_file"]

# The key file's first line; decrypt_phi refuses any other file.
KEY_FILE_HEADER = "closeplan-escrow-key v1"
GRANTEE_SERVER = "SERVER"


def write_key_file(path: Path) -> bytes:
    """Make a new server escrow key in `path` (mode 0600, never overwritten); returns its
    public key. The caller gives the file to the database server's OS user."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(f"{KEY_FILE_HEADER}\n{base64.b64encode(raw).decode('ascii')}\n")
    return public_raw(private)


def read_key_file(path: Path) -> X25519PrivateKey:
    """The private key of a key file made by `write_key_file`."""
    head, _, body = path.read_text(encoding="ascii").partition("\n")
    if head.strip() != KEY_FILE_HEADER:
        raise ValueError(f"{path} is not a ClosePlan escrow key file")
    return X25519PrivateKey.from_private_bytes(base64.b64decode(body.strip(), validate=True))
