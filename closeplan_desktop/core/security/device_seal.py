"""The device key sealed under a keyring secret and a share the server holds.

KEK = HKDF-SHA256(keyring secret || server share), then AES-256-GCM with the workspace
and device key ids as associated data. The server hands the share only to a session
opened with a user's password (`server.devices.shares`), so a process that reads the
keyring and the database file, with no password and no such session, opens nothing;
a user whom sync brought to this laptop opens it at their first online sign-in here and
so gets the PHI keys the server granted to this device at once.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .crypto import KEY_BYTES, NONCE_BYTES

SHARE_BYTES = 32


def _kek(ring_secret: bytes, share: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"closeplan/device-seal/v1").derive(ring_secret + share)


def _aad(workspace_id: str, key_id: str) -> bytes:
    return f"closeplan/device-seal/v1|{workspace_id}|{key_id}".encode()


def seal(ring_secret: bytes, share: bytes, workspace_id: str, key_id: str,
         device_private: bytes) -> bytes:
    """The device's private keys sealed: nonce || AES-GCM ciphertext."""
    if len(share) != SHARE_BYTES:
        raise ValueError("not a device share")
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(_kek(ring_secret, share)).encrypt(
        nonce, device_private, _aad(workspace_id, key_id))


def open_sealed(ring_secret: bytes, share: bytes, workspace_id: str, key_id: str,
                sealed: bytes) -> bytes | None:
    """The device's private keys, or None when either half is wrong or the blob is
    damaged (or sealed for another device key)."""
    if len(share) != SHARE_BYTES or len(sealed) <= NONCE_BYTES:
        return None
    try:
        return AESGCM(_kek(ring_secret, share)).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(workspace_id, key_id))
    except InvalidTag:
        return None
