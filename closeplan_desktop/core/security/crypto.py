"""Encryption primitives: the PHI envelope and the sealed recovery kit.

PHI: AES-256-GCM, a fresh 96-bit nonce per encryption, and associated data binding the
tenant, the deal and the key version, so that a ciphertext copied to another deal or
tenant does not decrypt. The envelope is compact JSON naming its key version.

Recovery kit: Argon2id over the passphrase, then AES-256-GCM.

Key wrapping for a grantee's X25519 public key: HPKE (RFC 9180 base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; a wrapped 32-byte key is 80
bytes), one implementation for the server (escrow grants) and the desktop (PHI keys and
the device keys wrapped for each local user's key slot). The info string binds what is
wrapped, so a grant copied to another tenant or version does not open.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..domain.errors import CryptoError, ValidationError

KEY_BYTES = 32
NONCE_BYTES = 12
ENVELOPE_VERSION = 1
KIT_FORMAT = "closeplan-recovery-kit"
KIT_VERSION = 1
# Argon2id parameters (RFC 9106 second recommendation: 64 MiB, 3 passes).
KIT_KDF = {"name": "argon2id", "iterations": 3, "lanes": 4, "memory_kib": 65536}
# What an imported kit may ask for: its parameters come from the file, so a crafted kit
# could otherwise hang the import (10^7 passes ran past 20 s) or exhaust memory. The
# bounds hold this version's kits with room for stronger ones (about 2 s at most).
KIT_KDF_BOUNDS = {"iterations": (1, 10), "lanes": (1, 16), "memory_kib": (8192, 262144)}


def new_key() -> bytes:
    """A random 256-bit key."""
    return os.urandom(KEY_BYTES)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str) -> bytes:
    return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)


def phi_aad(tenant_id: str, deal_id: str, version: int) -> bytes:
    return f"closeplan/phi/v{ENVELOPE_VERSION}|{tenant_id}|{deal_id}|{version}".encode()


def encrypt_phi(key: bytes, version: int, tenant_id: str, deal_id: str,
                phi: Mapping[str, Any]) -> str:
    """Encrypt a PHI object into the envelope stored in ``deals.phi``."""
    return PhiSealer(key, version, tenant_id).seal(deal_id, phi)


class PhiSealer:
    """`encrypt_phi` for many deals of one tenant under one key version: the AES key
    schedule is made once (imports and rotations seal thousands of rows)."""

    def __init__(self, key: bytes, version: int, tenant_id: str) -> None:
        self._aead = AESGCM(key)
        self.version = version
        self.tenant_id = tenant_id

    def seal(self, deal_id: str, phi: Mapping[str, Any]) -> str:
        # Keys in the order given: free PHI from the organisation's system reads back as
        # it came.
        return self.seal_bytes(deal_id, json.dumps(phi, ensure_ascii=False,
                                                   separators=(",", ":")).encode("utf-8"))

    def seal_bytes(self, deal_id: str, plaintext: bytes) -> str:
        """`seal` of PHI already in its JSON bytes."""
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, plaintext,
                                phi_aad(self.tenant_id, deal_id, self.version))
        return (f'{{"v":{ENVELOPE_VERSION},"k":{self.version},"n":"{_b64(nonce)}",'
                f'"c":"{_b64(ct)}"}}')


def envelope_version(envelope: str) -> int:
    """The key version an envelope names."""
    return _parse_envelope(envelope)[0]


# The envelope as PhiSealer writes it; anything else goes through the JSON parser.
_ENVELOPE_RE = re.compile(
    r'\{"v":(\d+),"k":(\d+),"n":"([A-Za-z0-9+/=]+)","c":"([A-Za-z0-9+/=]+)"\}')


def _parse_envelope(envelope: str) -> tuple[int, bytes, bytes]:
    """The key version, nonce and ciphertext of an envelope; CryptoError if damaged."""
    try:
        m = _ENVELOPE_RE.fullmatch(envelope)
        if m:
            form, version = int(m[1]), int(m[2])
            nonce, ct = _unb64(m[3]), _unb64(m[4])
        else:
            data = json.loads(envelope)
            form, version = data.get("v"), int(data["k"])
            nonce, ct = _unb64(data["n"]), _unb64(data["c"])
        if form != ENVELOPE_VERSION:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CryptoError("The stored PHI is damaged (not a ClosePlan envelope).") from None
    return version, nonce, ct


def _open(aead: AESGCM, tenant_id: str, deal_id: str,
          parsed: tuple[int, bytes, bytes]) -> bytes:
    version, nonce, ct = parsed
    try:
        return aead.decrypt(nonce, ct, phi_aad(tenant_id, deal_id, version))
    except InvalidTag:
        raise CryptoError("The stored PHI failed authentication: it was altered, moved to "
                          "another deal, or the key is wrong.") from None


def decrypt_phi(key: bytes, tenant_id: str, deal_id: str, envelope: str) -> dict[str, Any]:
    """Decrypt an envelope; fails if it was moved to another deal or tenant, or altered."""
    plaintext = _open(AESGCM(key), tenant_id, deal_id, _parse_envelope(envelope))
    result = json.loads(plaintext.decode("utf-8"))
    assert isinstance(result, dict)
    return result


class PhiResealer:
    """Key rotation's step: moves envelopes of any old version to `sealer`'s key. The
    plaintext is opened and sealed again as bytes, never parsed, and lives only for the
    call."""

    def __init__(self, sealer: PhiSealer, key_of: Callable[[int], bytes]) -> None:
        self._sealer = sealer
        self._key_of = key_of
        self._aeads: dict[int, AESGCM] = {}

    def reseal(self, deal_id: str, envelope: str) -> str:
        parsed = _parse_envelope(envelope)
        aead = self._aeads.get(parsed[0])
        if aead is None:
            aead = self._aeads[parsed[0]] = AESGCM(self._key_of(parsed[0]))
        tenant_id = self._sealer.tenant_id
        return self._sealer.seal_bytes(deal_id, _open(aead, tenant_id, deal_id, parsed))


def reseal_many(tenant_id: str, active: int, keys: dict[int, bytes],
                rows: list[tuple[str, str]]) -> list[str]:
    """`PhiResealer.reseal` over (deal id, envelope) rows, for key rotation's worker
    process: `keys` holds the active version's key and every older one still in use."""
    def key_of(version: int) -> bytes:
        if version not in keys:
            raise CryptoError(f"The stored PHI names key version {version}, which this "
                              "workspace no longer has.")
        return keys[version]

    resealer = PhiResealer(PhiSealer(keys[active], active, tenant_id), key_of)
    return [resealer.reseal(deal_id, envelope) for deal_id, envelope in rows]


def mac(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts, separated unambiguously (`mac_message`); hex."""
    return hmac.new(key, mac_message(*parts), hashlib.sha256).hexdigest()


def mac_message(*parts: str) -> bytes:
    """The bytes `mac` authenticates: each part's length (4 bytes, big-endian), then it."""
    out = []
    for part in parts:
        data = part.encode("utf-8")
        out.append(len(data).to_bytes(4, "big"))
        out.append(data)
    return b"".join(out)


def hmac_hex(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 (hex) of many messages under one key, for bulk checks: the key's pads
    are hashed once (RFC 2104 over hashlib, as `hmac` computes it)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def digest(message: bytes) -> str:
        h = inner()
        h.update(message)
        o = outer()
        o.update(h.digest())
        return o.hexdigest()

    return digest


def key_check(key: bytes) -> str:
    """A public fingerprint of a key: tells whether a key fits, reveals nothing of it."""
    return mac(key, "closeplan/key-check/v1")[:32]


def _kit_key(passphrase: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
    return Argon2id(salt=salt, length=KEY_BYTES, iterations=int(kdf["iterations"]),
                    lanes=int(kdf["lanes"]), memory_cost=int(kdf["memory_kib"])
                    ).derive(passphrase.encode("utf-8"))


def seal_kit(passphrase: str, payload: dict[str, Any]) -> bytes:
    """Seal a recovery-kit payload with a passphrase; returns the kit file's bytes."""
    salt, nonce = os.urandom(16), os.urandom(NONCE_BYTES)
    key = _kit_key(passphrase, salt, KIT_KDF)
    header = {"format": KIT_FORMAT, "version": KIT_VERSION, "kdf": KIT_KDF, "salt": _b64(salt)}
    aad = json.dumps(header, sort_keys=True).encode()
    ct = AESGCM(key).encrypt(nonce, json.dumps(payload).encode("utf-8"), aad)
    kit = dict(header, nonce=_b64(nonce), ciphertext=_b64(ct))
    return (json.dumps(kit, indent=2, sort_keys=True) + "\n").encode("ascii")


def open_kit(passphrase: str, data: bytes) -> dict[str, Any]:
    """Open a sealed kit; a clear error for a wrong passphrase or a file that is not a kit."""
    try:
        kit = json.loads(data.decode("utf-8"))
        if kit.get("format") != KIT_FORMAT:
            raise ValueError
        if kit.get("version") != KIT_VERSION:
            raise ValidationError("This recovery kit was made by a newer ClosePlan Desktop; "
                                  "update the app to import it.")
        kdf = kit["kdf"]
        if kdf.get("name") != "argon2id" or set(kdf) != {"name", *KIT_KDF_BOUNDS}:
            raise ValueError
        for name, (low, high) in KIT_KDF_BOUNDS.items():
            value = kdf[name]
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not low <= value <= high:
                raise ValidationError("This recovery kit asks for key-derivation settings "
                                      f"outside the safe range ({name}); it was not "
                                      "opened. Use a kit exported by ClosePlan Desktop.")
        if kdf["memory_kib"] < 8 * kdf["lanes"]:
            raise ValueError
        salt, nonce, ct = _unb64(kit["salt"]), _unb64(kit["nonce"]), _unb64(kit["ciphertext"])
        header = {k: kit[k] for k in ("format", "version", "kdf", "salt")}
    except ValidationError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        raise ValidationError("The file is not a ClosePlan recovery kit.") from None
    key = _kit_key(passphrase, salt, kdf)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ct, json.dumps(header, sort_keys=True).encode())
    except InvalidTag:
        raise ValidationError("The passphrase is wrong for this recovery kit, or the kit was "
                              "altered.") from None
    payload = json.loads(plaintext)
    assert isinstance(payload, dict)
    return payload


# --- key wrapping (HPKE) ----------------------------------------------------------------

HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


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
    return HPKE_SUITE.encrypt(secret, X25519PublicKey.from_public_bytes(public), info=info)


def unwrap(private: X25519PrivateKey, info: bytes, wrapped: bytes) -> bytes:
    """Open what `wrap` made; cryptography's InvalidTag if it was not made for this key
    and info."""
    return HPKE_SUITE.decrypt(wrapped, private, info=info)


def wrap_key(public: bytes, tenant_id: str, version: int, phi_key: bytes) -> bytes:
    """Wrap a tenant's PHI key version for the grantee whose X25519 public key is `public`."""
    return wrap(public, grant_info(tenant_id, version), phi_key)


def unwrap_key(private: X25519PrivateKey, tenant_id: str, version: int,
               wrapped: bytes) -> bytes:
    """Open a PHI key grant made by `wrap_key`; CryptoError when it is not for this key,
    tenant and version, or was altered."""
    try:
        return unwrap(private, grant_info(tenant_id, version), wrapped)
    except (InvalidTag, ValueError):
        raise CryptoError("A PHI key grant did not open with this key (it is meant for "
                          "another device or user, tenant or key version).") from None
