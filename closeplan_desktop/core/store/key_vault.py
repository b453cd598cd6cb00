"""Keys that only a signed-in user unlocks: key slots, grants, device keys.

The OS keyring keeps the database key, the audit key and one more secret (`UNLOCK_SLOT`);
it no longer keeps PHI keys. Each local user has a slot (`core.security.slots`): their
X25519 private key sealed under that keyring secret and Argon2id of their password. Each
PHI key version, and the device's own key pair, is wrapped (HPKE) for every slot's public
key in `key_grants`. A sign-in opens the user's slot (which also verifies the password)
and unwraps their grants into the workspace's in-memory key cache; locking or signing
out empties it. Whoever holds keys in memory can grant them to another slot without
knowing its password (a new user, a reset, a new PHI key version).

An older workspace keeps its PHI keys in the keyring: the first sign-in wraps them for
that user and the keyring entries are deleted (`unlock` returns them for the caller to
delete after commit). A user without a slot here signs in against an imported bcrypt
hash once, which makes the slot; later users of such a workspace get their grants from
the next signed-in user who holds the keys.

A connected workspace also keeps its device keys sealed under the keyring secret and a
share the server hands only to a password session (`seal_device`): a user whom sync
brought opens them at their first online sign-in here, and with them this device's
grants from the server, so their new slot gets the PHI keys at once (`open_with_share`).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..domain.clock import utcnow
from ..domain.enums import PhiKeyState
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import KeyMissing
from ..security import crypto, device_seal, slots
from ..security.device_keys import DeviceKeys
from ..security.keyring_store import DEVICE_HELD, DEVICE_ID_SLOT, UNLOCK_SLOT, phi_slot
from .audit_log import log_event
from .models import KeyGrant, KeySlot, Meta, PhiKey

if TYPE_CHECKING:
    from .workspace import Workspace

DEVICE_GRANT = "device"
META_DEVICE_KEY_ID = "device_key_id"
META_DEVICE_PUBLIC = "device_public"
# Set when the workspace is new to this device (copied or restored): sync enrols it.
META_NEEDS_ENROLMENT = "needs_enrolment"
# + a PHI key's grant name: a server grant for this device, waiting for a signed-in user.
META_DEVICE_GRANT = "device_grant:"
# The device keys sealed under the keyring secret and the server's device share.
META_DEVICE_SEALED = "device_sealed"

RING_MISSING = (
    "This keyring does not hold the sign-in key of this workspace (the keyring was reset, "
    "or the folder was copied here). Import the workspace's recovery kit with "
    "'closeplan-admin keys import-kit', then sign in again.")


def _ring_secret(ws: Workspace, *, create: bool) -> bytes | None:
    secret = ws.keyring.get(UNLOCK_SLOT)
    if secret is None and create:
        secret = crypto.new_key()
        ws.keyring.put(UNLOCK_SLOT, secret)
    return secret


def has_slot(s: Session, user_id: str) -> bool:
    """Whether the user has a key slot on this device (can sign in offline here)."""
    return s.get(KeySlot, user_id) is not None


def open_slot(s: Session, ws: Workspace, user_id: str,
              password: str) -> X25519PrivateKey | None:
    """The user's private key, or None when the password is wrong or there is no slot.
    KeyMissing when the keyring lost its half (every slot is then unusable)."""
    row = s.get(KeySlot, user_id)
    if row is None:
        same_work(s, password)
        return None
    secret = _ring_secret(ws, create=False)
    if secret is None:
        raise KeyMissing(RING_MISSING)
    return slots.open_sealed(secret, password, user_id,
                             slots.SealedSlot(row.salt, row.kdf, row.sealed))


def same_work(s: Session, password: str) -> None:
    """The work of opening a slot, at the parameters most slots have here: for a
    sign-in that fails anyway, so that it costs what a real one costs."""
    usual = s.scalar(select(KeySlot.kdf).group_by(KeySlot.kdf)
                     .order_by(func.count().desc()).limit(1))
    slots.same_work(password, usual)


def make_slot(s: Session, ws: Workspace, user_id: str, password: str) -> X25519PrivateKey:
    """A new slot for the user (replacing any: their old grants go with it), granted
    every key held in memory now. Returns the new private key."""
    secret = _ring_secret(ws, create=True)
    assert secret is not None
    private = X25519PrivateKey.generate()
    sealed = slots.seal(secret, password, user_id, private)
    s.execute(delete(KeyGrant).where(KeyGrant.user_id == user_id))
    old = s.get(KeySlot, user_id)
    if old is not None:
        s.delete(old)
        s.flush()
    s.add(KeySlot(user_id=user_id, public_key=crypto.public_raw(private), salt=sealed.salt,
                  kdf=sealed.kdf, sealed=sealed.sealed, updated_at=utcnow()))
    s.flush()
    grant_held(s, ws)
    return private


def reseal_slot(s: Session, ws: Workspace, user_id: str, private: X25519PrivateKey,
                password: str) -> None:
    """Seal the same private key under a new password (a password change: grants stay)."""
    secret = _ring_secret(ws, create=True)
    assert secret is not None
    row = s.get(KeySlot, user_id)
    assert row is not None
    sealed = slots.seal(secret, password, user_id, private)
    row.salt, row.kdf, row.sealed, row.updated_at = (sealed.salt, sealed.kdf, sealed.sealed,
                                                     utcnow())


def _phi_versions(s: Session) -> list[tuple[str, int]]:
    return [(t, v) for t, v in s.execute(select(PhiKey.tenant_id, PhiKey.version).where(
        PhiKey.state != PhiKeyState.RETIRED))]


def _device_info(ws: Workspace, key_id: str) -> bytes:
    return f"closeplan/device-key-grant/v1|{ws.workspace_id}|{key_id}".encode()


def _meta(s: Session, key: str) -> str | None:
    row = s.get(Meta, key)
    return row.value if row is not None else None


def _set_meta(s: Session, key: str, value: str | None) -> None:
    row = s.get(Meta, key)
    if value is None:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(Meta(key=key, value=value))
    else:
        row.value = value


def _held(s: Session, ws: Workspace) -> list[tuple[str, bytes, bytes]]:
    """(grant name, info, key) of every key held in memory now."""
    out = []
    for tenant_id, version in _phi_versions(s):
        key = ws.keyring.held(phi_slot(tenant_id, version))
        if key is not None:
            out.append((phi_slot(tenant_id, version),
                        crypto.grant_info(tenant_id, version), key))
    device = ws.keyring.held(DEVICE_HELD)
    key_id = _meta(s, META_DEVICE_KEY_ID)
    if device is not None and key_id is not None:
        out.append((DEVICE_GRANT, _device_info(ws, key_id), device))
    return out


def grant_held(s: Session, ws: Workspace) -> int:
    """Wrap every key held in memory for every slot that lacks it; returns how many."""
    held = _held(s, ws)
    if not held:
        return 0
    have = set(s.execute(select(KeyGrant.user_id, KeyGrant.name)))
    made = 0
    for user_id, public in s.execute(select(KeySlot.user_id, KeySlot.public_key)):
        for name, info, key in held:
            if (user_id, name) not in have:
                s.add(KeyGrant(user_id=user_id, name=name,
                               wrapped=crypto.wrap(public, info, key)))
                made += 1
    s.flush()
    return made


def receive_phi_key(s: Session, ws: Workspace, tenant_id: str, version: int,
                    key: bytes) -> None:
    """A PHI key version that arrived from elsewhere (sync: a server grant opened with
    the device's agreement key): held in memory and wrapped for every local slot, in the
    caller's transaction (the `phi_keys` row must exist)."""
    ws.keyring.remember(phi_slot(tenant_id, version), key)
    grant_held(s, ws)


def keep_device_grant(s: Session, tenant_id: str, version: int, wrapped: bytes) -> None:
    """A PHI key grant from the server, wrapped (HPKE) for this device's agreement key:
    kept as it came, in the caller's transaction, until `open_device_grants` opens it
    (the device's private keys are only held while a user is signed in)."""
    _set_meta(s, META_DEVICE_GRANT + phi_slot(tenant_id, version),
              base64.b64encode(wrapped).decode("ascii"))


def open_device_grants(s: Session, ws: Workspace) -> int:
    """Open the server's grants kept by `keep_device_grant` with the device's agreement
    key, when a signed-in user holds it: each PHI key is held and wrapped for every local
    slot (`receive_phi_key`), and the kept grant removed. A grant whose key version row
    has not arrived yet waits. Returns how many were opened."""
    raw = ws.keyring.held(DEVICE_HELD)
    if raw is None:
        return 0
    agreement = DeviceKeys.from_bytes(raw).agreement
    known = set(s.execute(select(PhiKey.tenant_id, PhiKey.version)))
    opened = 0
    for row in list(s.scalars(select(Meta).where(Meta.key.startswith(META_DEVICE_GRANT)))):
        name = row.key[len(META_DEVICE_GRANT):]
        info = _grant_info(ws, name, None)
        if info is None:
            s.delete(row)  # not a PHI key grant of this version's form
            continue
        _head, tenant_id, version = name.split(":")
        if (tenant_id, int(version[1:])) not in known:
            continue
        try:
            key = crypto.unwrap(agreement, info, base64.b64decode(row.value))
        except (InvalidTag, ValueError):
            # Wrapped for this workspace's earlier device keys (copied, enrolled again):
            # the server grants the new keys at the new approval.
            s.delete(row)
            continue
        s.delete(row)
        ws.keyring.remember(name, key)
        opened += 1
    s.flush()
    if opened:
        grant_held(s, ws)
    return opened


def seal_device(s: Session, ws: Workspace, share: bytes) -> bool:
    """Seal the device keys held now under the keyring secret and the server's `share`
    (`core.security.device_seal`), in the caller's transaction; False when they are not
    held (nobody signed in)."""
    raw = ws.keyring.held(DEVICE_HELD)
    key_id = _meta(s, META_DEVICE_KEY_ID)
    if raw is None or key_id is None:
        return False
    secret = _ring_secret(ws, create=True)
    assert secret is not None
    sealed = device_seal.seal(secret, share, ws.workspace_id, key_id, raw)
    _set_meta(s, META_DEVICE_SEALED, base64.b64encode(sealed).decode("ascii"))
    return True


def has_sealed_device(s: Session) -> bool:
    """Whether the device keys are sealed for an online sign-in (`seal_device`)."""
    return _meta(s, META_DEVICE_SEALED) is not None


def open_with_share(s: Session, ws: Workspace, tenant_id: str, share: bytes,
                    grants: list[tuple[int, bytes]]) -> bool:
    """At an online sign-in: open the device keys sealed by `seal_device` with the
    server's `share`, then the server's `grants` for this device with them; the keys are
    held in memory and wrapped for every local slot that lacks them, in the caller's
    transaction. False (nothing held) when there is no sealed copy or it does not open."""
    sealed, key_id = _meta(s, META_DEVICE_SEALED), _meta(s, META_DEVICE_KEY_ID)
    secret = _ring_secret(ws, create=False)
    if sealed is None or key_id is None or secret is None:
        return False
    raw = device_seal.open_sealed(secret, share, ws.workspace_id, key_id,
                                  base64.b64decode(sealed))
    if raw is None or DeviceKeys.from_bytes(raw).key_id != key_id:
        return False
    ws.keyring.remember(DEVICE_HELD, raw)
    for version, wrapped in grants:
        keep_device_grant(s, tenant_id, version, wrapped)
    open_device_grants(s, ws)
    grant_held(s, ws)
    return True


def unlock(s: Session, ws: Workspace, user_id: str, private: X25519PrivateKey) -> list[str]:
    """Unwrap the user's grants into memory; move an older workspace's plain PHI keys
    out of the keyring; make the device keys if there are none; grant what is held to
    slots that lack it. Returns the keyring slots to delete once this commits."""
    key_id = _meta(s, META_DEVICE_KEY_ID)
    for name, wrapped in s.execute(select(KeyGrant.name, KeyGrant.wrapped)
                                   .where(KeyGrant.user_id == user_id)):
        info = _grant_info(ws, name, key_id)
        if info is None:
            continue
        try:
            ws.keyring.remember(DEVICE_HELD if name == DEVICE_GRANT else name,
                                crypto.unwrap(private, info, wrapped))
        except InvalidTag:
            continue  # a grant for another device key or a damaged row opens nothing
    legacy = []
    for tenant_id, version in _phi_versions(s):
        slot = phi_slot(tenant_id, version)
        if ws.keyring.held(slot) is None and ws.keyring.get(slot) is not None:
            legacy.append(slot)  # read from the keyring: now held, granted below
    ensure_device_keys(s, ws, user_id)
    open_device_grants(s, ws)
    grant_held(s, ws)
    return legacy


def _grant_info(ws: Workspace, name: str, device_key_id: str | None) -> bytes | None:
    if name == DEVICE_GRANT:
        return _device_info(ws, device_key_id) if device_key_id else None
    head, tenant_id, version = [*name.split(":"), "", ""][:3]
    if head != "phi" or not version.startswith("v") or not version[1:].isdigit():
        return None
    return crypto.grant_info(tenant_id, int(version[1:]))


def drop_legacy(ws: Workspace, slots_: list[str]) -> None:
    """Delete plain PHI keys from the keyring once their grants are committed."""
    for slot in slots_:
        key = ws.keyring.held(slot)
        ws.keyring.delete(slot)
        if key is not None:  # delete() drops it from memory too: the session needs it
            ws.keyring.remember(slot, key)


def ensure_device_keys(s: Session, ws: Workspace, user_id: str | None) -> None:
    """Make this workspace copy's device keys when it has none (a new or copied
    workspace, or one made before device keys existed)."""
    if _meta(s, META_DEVICE_KEY_ID) is not None:
        return
    keys = DeviceKeys.generate()
    _set_meta(s, META_DEVICE_KEY_ID, keys.key_id)
    _set_meta(s, META_DEVICE_PUBLIC, (keys.signing_public + keys.agreement_public).hex())
    ws.keyring.replace(DEVICE_ID_SLOT, bytes.fromhex(keys.key_id))
    ws.keyring.remember(DEVICE_HELD, keys.to_bytes())
    log_event(s, ws, Ev.DEVICE_KEYS_CREATED, _sole_tenant(s), user_id,
              {"key_id": keys.key_id})
    s.flush()


def _sole_tenant(s: Session) -> str | None:
    return s.scalar(select(PhiKey.tenant_id).limit(1))


def device_keys(ws: Workspace) -> DeviceKeys:
    """The device's keys, unlocked by the signed-in user; KeyMissing when locked."""
    raw = ws.keyring.held(DEVICE_HELD)
    if raw is None:
        raise KeyMissing("The device keys are locked: sign in first. If you are signed in, "
                         "an administrator must sign in on this device once to share them "
                         "with your account.")
    return DeviceKeys.from_bytes(raw)


def device_key_id(s: Session) -> str | None:
    """The device key id the database names (None before the first sign-in)."""
    return _meta(s, META_DEVICE_KEY_ID)


def needs_enrolment(s: Session) -> bool:
    """Whether this workspace copy is new to its device (copied or restored) and must
    enrol with the server again."""
    return _meta(s, META_NEEDS_ENROLMENT) == "1"


def set_enrolled(s: Session) -> None:
    """Clear the enrolment flag (sync, once the server has enrolled this device)."""
    _set_meta(s, META_NEEDS_ENROLMENT, None)


def copied_here(s: Session, ws: Workspace) -> bool:
    """Whether the database names a device key that this keyring does not know."""
    key_id = _meta(s, META_DEVICE_KEY_ID)
    if key_id is None:
        return False
    held = ws.keyring.get(DEVICE_ID_SLOT)
    return held is None or held.hex() != key_id


def forget_device(s: Session) -> None:
    """A copied or restored workspace: drop the old device's keys (new ones are made at
    the next sign-in) and mark it as needing enrolment."""
    s.execute(delete(KeyGrant).where(KeyGrant.name == DEVICE_GRANT))
    _set_meta(s, META_DEVICE_KEY_ID, None)
    _set_meta(s, META_DEVICE_PUBLIC, None)
    _set_meta(s, META_DEVICE_SEALED, None)
    _set_meta(s, META_NEEDS_ENROLMENT, "1")
