"""The device's key pair: Ed25519 to sign (audit uploads), X25519 to receive grants.

Made once per workspace copy; the private halves are kept only wrapped for each local
user's key slot (`core.store.key_vault`), so only a signed-in user unlocks them. The key
id (a digest of both public halves) is not secret: the keyring keeps it beside the
workspace id, and a database whose device key id the keyring does not know was copied
or restored from elsewhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PRIVATE_BYTES = 64  # Ed25519 seed || X25519 private key


@dataclass(frozen=True)
class DeviceKeys:
    """A device's signing key and agreement key (both private), with their public ids."""

    signing: Ed25519PrivateKey
    agreement: X25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKeys:
        """A new random device key pair."""
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeviceKeys:
        """The keys `to_bytes` gave."""
        if len(raw) != PRIVATE_BYTES:
            raise ValueError("not a device key")
        return cls(Ed25519PrivateKey.from_private_bytes(raw[:32]),
                   X25519PrivateKey.from_private_bytes(raw[32:]))

    def to_bytes(self) -> bytes:
        """Both private halves, for wrapping (never stored in the clear)."""
        return self.signing.private_bytes_raw() + self.agreement.private_bytes_raw()

    @property
    def signing_public(self) -> bytes:
        """The Ed25519 public key (32 bytes): what a server verifies signatures with."""
        return self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def agreement_public(self) -> bytes:
        """The X25519 public key (32 bytes): what grants for this device are wrapped to."""
        return self.agreement.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """The device key id (32 hex characters), not secret."""
        return key_id_of(self.signing_public, self.agreement_public)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of `message`."""
        return self.signing.sign(message)


def key_id_of(signing_public: bytes, agreement_public: bytes) -> str:
    """The key id of a device's two public keys."""
    return hashlib.sha256(b"closeplan/device-key/v1|" + signing_public +
                          agreement_public).hexdigest()[:32]
