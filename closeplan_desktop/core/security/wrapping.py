"""Key wrapping for a grantee's X25519 public key: HPKE (RFC 9180 base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; a wrapped 32-byte key is 80 bytes).

One implementation for the server (escrow grants) and the desktop (a PHI key version or
the device's keys wrapped for each local user's key slot). The info string binds what
is wrapped (tenant and version of a PHI key), so a grant copied elsewhere does not open.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def grant_info(tenant_id: str, version: int) -> bytes:
    """The HPKE info of a PHI key grant: binds it to its tenant and key version."""
    return f"closeplan/phi-key-grant/v1|{tenant_id}|{version}".encode()


def public_raw(private: X25519PrivateKey) -> bytes:
    """The raw 32 bytes of a private key's public half."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """A public key's id: a digest of it (32 hex characters)."""
    return hashlib.sha256(public).hexdigest()[:32]


def wrap(public: bytes, info: bytes, secret: bytes) -> bytes:
    """Wrap `secret` for the holder of the X25519 private key of `public`."""
    return SUITE.encrypt(secret, X25519PublicKey.from_public_bytes(public), info=info)


def unwrap(private: X25519PrivateKey, info: bytes, wrapped: bytes) -> bytes:
    """Open what `wrap` made; cryptography's InvalidTag if it was not made for this key
    and info."""
    return SUITE.decrypt(wrapped, private, info=info)


def wrap_key(public: bytes, tenant_id: str, version: int, phi_key: bytes) -> bytes:
    """Wrap a tenant's PHI key version for the grantee whose X25519 public key is `public`."""
    return wrap(public, grant_info(tenant_id, version), phi_key)


def unwrap_key(private: X25519PrivateKey, tenant_id: str, version: int,
               wrapped: bytes) -> bytes:
    """Open a PHI key grant made by `wrap_key`."""
    return unwrap(private, grant_info(tenant_id, version), wrapped)
