"""A user's key slot: their X25519 private key sealed under a composite key.

KEK = HKDF-SHA256(keyring secret || Argon2id(password, salt)), then AES-256-GCM with the
user's id as associated data. Neither half alone opens a slot: the keyring secret stays
in the OS keyring (a stolen database file is not enough), and Argon2id of the password
is needed too (a process that reads the keyring is not enough), as KeePassXC combines a
key file with a password. Opening the slot is also how a sign-in is verified offline, so
an attacker holding both the database and the keyring pays Argon2id per guess.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import policy
from .crypto import KEY_BYTES, KIT_KDF, NONCE_BYTES

# Sized to about 0.45 s on a 2-core laptop (RFC 9106's second recommendation).
SLOT_KDF: dict[str, int] = {k: int(str(v)) for k, v in KIT_KDF.items() if k != "name"}
# The suite's: chosen only while the test policy override lets settings go below their
# floors (tests/conftest.py), the same switch that keeps its bcrypt cost cheap.
TEST_KDF: dict[str, int] = {"iterations": 1, "lanes": 1, "memory_kib": 64}
# What a stored slot may ask for: the bounds keep a crafted row from hanging a sign-in.
_BOUNDS = {"iterations": (1, 10), "lanes": (1, 16), "memory_kib": (8, 262144)}
SLOT_FORMAT = 1


def kdf_params() -> dict[str, int]:
    """The Argon2id parameters new slots are made with."""
    return dict(TEST_KDF if policy.SYSTEM_POLICY_OVERRIDE.below_floors else SLOT_KDF)


@dataclass(frozen=True)
class SealedSlot:
    """What the database keeps of a slot (no secret in the clear)."""

    salt: bytes
    kdf: str  # JSON of the Argon2id parameters
    sealed: bytes  # nonce || AES-GCM(private key)


def _kek(ring_secret: bytes, password: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
    stretched = Argon2id(salt=salt, length=KEY_BYTES, iterations=int(kdf["iterations"]),
                         lanes=int(kdf["lanes"]), memory_cost=int(kdf["memory_kib"])
                         ).derive(password.encode("utf-8"))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"closeplan/slot-kek/v1").derive(ring_secret + stretched)


def _aad(user_id: str) -> bytes:
    return f"closeplan/key-slot/v{SLOT_FORMAT}|{user_id}".encode()


def seal(ring_secret: bytes, password: str, user_id: str,
         private: X25519PrivateKey) -> SealedSlot:
    """Seal a user's private key under the keyring secret and their password."""
    salt, nonce, kdf = os.urandom(16), os.urandom(NONCE_BYTES), kdf_params()
    kek = _kek(ring_secret, password, salt, kdf)
    ct = AESGCM(kek).encrypt(nonce, private.private_bytes_raw(), _aad(user_id))
    return SealedSlot(salt, json.dumps(kdf, sort_keys=True), nonce + ct)


def open_sealed(ring_secret: bytes, password: str, user_id: str,
                slot: SealedSlot) -> X25519PrivateKey | None:
    """The private key, or None when the password (or the keyring secret) is wrong."""
    try:
        kdf = json.loads(slot.kdf)
        for name, (low, high) in _BOUNDS.items():
            value = kdf[name]
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not low <= value <= high:
                raise ValueError
        if kdf["memory_kib"] < 8 * kdf["lanes"]:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return None  # a damaged or crafted slot opens for no one
    kek = _kek(ring_secret, password, slot.salt, kdf)
    try:
        raw = AESGCM(kek).decrypt(slot.sealed[:NONCE_BYTES], slot.sealed[NONCE_BYTES:],
                                  _aad(user_id))
    except InvalidTag:
        return None
    return X25519PrivateKey.from_private_bytes(raw)


def same_work(password: str, kdf: str | None = None) -> None:
    """The Argon2id work of opening a slot, for a sign-in that fails anyway (unknown
    email, locked or deactivated account): answers and timings stay alike. `kdf` is the
    JSON of the parameters most stored slots have (default: those new slots get)."""
    params = kdf_params()
    if kdf is not None:
        try:
            params = {k: int(json.loads(kdf)[k]) for k in _BOUNDS}
        except (ValueError, KeyError, TypeError):
            pass
    _kek(b"\0" * KEY_BYTES, password, os.urandom(16), params)
