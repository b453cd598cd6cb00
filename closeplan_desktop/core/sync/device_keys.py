"""This device's own keys for the server: Ed25519 (it signs audit batches) and X25519
(PHI key grants are wrapped for it), made at enrolment.

The one module that stores them: through `KeyringStore`, two slots of the workspace.
(Issue 12 moves device keys under a composite key of the keyring and the user's
password, `core/security/device_keys.py`; that change is made here and nowhere else.)
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..domain.errors import KeyMissing
from ..security.keyring_store import KeyringStore

SIGN_SLOT = "device:sign"
KEM_SLOT = "device:kem"


@dataclass(frozen=True)
class DeviceKeys:
    """The device's private keys (in memory only while in use)."""

    sign: Ed25519PrivateKey
    kem: X25519PrivateKey

    @property
    def sign_public(self) -> bytes:
        return self.sign.public_key().public_bytes_raw()

    @property
    def kem_public(self) -> bytes:
        return self.kem.public_key().public_bytes_raw()


def create(keyring: KeyringStore) -> DeviceKeys:
    """Make this device's keys and keep them in the keyring (replacing any earlier pair:
    an enrolment that starts again starts with new keys)."""
    keys = DeviceKeys(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())
    keyring.replace(SIGN_SLOT, keys.sign.private_bytes_raw())
    keyring.replace(KEM_SLOT, keys.kem.private_bytes_raw())
    return keys


def load(keyring: KeyringStore) -> DeviceKeys:
    """This device's keys; KeyMissing when the keyring has none (a copied workspace, or
    one never enrolled: enrol again)."""
    sign, kem = keyring.get(SIGN_SLOT), keyring.get(KEM_SLOT)
    if sign is None or kem is None:
        raise KeyMissing("This device's sync keys are not in the keyring (the workspace was "
                         "copied here, or the keyring was reset): connect it to the server "
                         "again to enrol this device.")
    return DeviceKeys(Ed25519PrivateKey.from_private_bytes(sign),
                      X25519PrivateKey.from_private_bytes(kem))


def forget(keyring: KeyringStore) -> None:
    """Remove the device's keys from the keyring."""
    for slot in (SIGN_SLOT, KEM_SLOT):
        if keyring.get(slot) is not None:
            keyring.delete(slot)
