"""What a laptop needs from the server to open its keys online (SYNC.md, "Keys").

- **Device shares.** A random secret per device, the server's half of the key that
  seals the laptop's device key (the other half is a secret in the laptop's keyring).
  It is handed only to a session opened with a password (a session with no device: a
  device's sessions come from its refresh token, which the keyring holds, so a process
  that reads the keyring could open one). With it come the device's live PHI key
  grants (wrapped for the device key: useless without it). A laptop uses this at a
  user's first online sign-in there, so the new user gets the PHI keys at once.
- **Grantees of a rotation.** Every approved device of the tenant with its X25519
  public key, and the server's escrow key when the tenant keeps an escrow grant of
  its active version: the admin's laptop wraps a new PHI key version for each.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from ...core.domain.ids import is_id
from ..caller import Caller
from ..db.pool import Connection
from ..errors import ApiError, bad_request, forbidden, not_found
from .registry import ACTIVE, active_device

SHARE_BYTES = 32
REVOKED = "REVOKED"


def device_unlock(conn: Connection, caller: Caller, device_id: str) -> dict[str, Any]:
    """The share of `device_id` (made on first request) and the device's live grants,
    for a password session of a user of the device's tenant."""
    if caller.device_id is not None:
        raise forbidden("password_session_required", "A device share is given only to a "
                        "session opened with a password: sign in with email and password, "
                        "without a device.")
    row = conn.execute("SELECT status::text FROM devices WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, device_id)).fetchone() if is_id(device_id) else None
    if row is None:
        raise not_found("unknown_device", "No device with that id in your organisation.")
    if row[0] == REVOKED:
        raise forbidden("device_revoked", "This device has been revoked by an admin.")
    conn.execute("INSERT INTO device_shares (tenant_id, device_id, share) VALUES (%s, %s, %s) "
                 "ON CONFLICT DO NOTHING", (caller.tenant_id, device_id,
                                            secrets.token_bytes(SHARE_BYTES)))
    share = conn.execute("SELECT share FROM device_shares WHERE tenant_id = %s AND "
                         "device_id = %s", (caller.tenant_id, device_id)).fetchone()
    assert share is not None
    grants = [] if row[0] != ACTIVE else conn.execute(
        "SELECT key_version, wrapped FROM key_grants WHERE tenant_id = %s AND revoked_at IS "
        "NULL AND grantee_kind = 'DEVICE' AND grantee_id = %s ORDER BY key_version",
        (caller.tenant_id, device_id)).fetchall()
    return {"share": _b64(bytes(share[0])),
            "grants": [{"key_version": v, "wrapped": _b64(bytes(w))} for v, w in grants]}


def active_version(conn: Connection, tenant_id: str) -> int:
    """The tenant's active PHI key version (0: none yet)."""
    row = conn.execute("SELECT version FROM phi_keys WHERE tenant_id = %s AND state = "
                       "'ACTIVE'", (tenant_id,)).fetchone()
    return int(row[0]) if row else 0


def active_devices(conn: Connection, tenant_id: str) -> dict[str, bytes]:
    """Every approved device of the tenant: id -> X25519 public key."""
    return {str(i): bytes(k) for i, k in conn.execute(
        "SELECT id, kem_public_key FROM devices WHERE tenant_id = %s AND status = 'ACTIVE' "
        "AND kem_public_key IS NOT NULL ORDER BY id", (tenant_id,)).fetchall()}


def escrow_grantee(conn: Connection, tenant_id: str, version: int) -> str | None:
    """The escrow key id the tenant granted `version` to, or None (no escrow)."""
    row = conn.execute("SELECT grantee_id FROM key_grants WHERE tenant_id = %s AND "
                       "key_version = %s AND grantee_kind = 'SERVER' AND revoked_at IS NULL "
                       "ORDER BY created_at DESC LIMIT 1", (tenant_id, version)).fetchone()
    return str(row[0]) if row else None


def escrow_public(conn: Connection, key_id: str) -> bytes:
    """The escrow key's public half, which must be the key `key_id` names (a 409 tells
    the admin the escrow key cannot be used now: a rotation must not drop escrow)."""
    row = conn.execute("SELECT escrow_public_key()").fetchone()
    public = bytes(row[0]) if row and row[0] is not None else None
    if public is None or hashlib.sha256(public).hexdigest()[:32] != key_id:
        raise ApiError(409, "escrow_key_unavailable", "Your organisation keeps a server "
                       "escrow copy of its PHI key, but the server cannot read that escrow "
                       "key now; ask the server's operator to restore its key file, then "
                       "rotate again. Nothing was changed.")
    return public


def grantees(conn: Connection, caller: Caller) -> dict[str, Any]:
    """What an admin's device wraps a new PHI key version for: the active version, every
    approved device and the escrow key (None when the tenant keeps no escrow grant)."""
    caller.require_admin()
    active_device(conn, caller)
    active = active_version(conn, caller.tenant_id)
    key_id = escrow_grantee(conn, caller.tenant_id, active) if active else None
    escrow = None
    if key_id is not None:
        escrow = {"key_id": key_id, "public_key": _b64(escrow_public(conn, key_id))}
    return {"active_version": active,
            "devices": [{"id": i, "kem_public_key": _b64(k)}
                        for i, k in active_devices(conn, caller.tenant_id).items()],
            "escrow": escrow}


def check_complete(conn: Connection, caller: Caller, previous: int,
                   granted: set[tuple[str, str]]) -> None:
    """Refuse a rotation whose grants miss an approved device or the escrow key the
    tenant keeps (`granted`: (kind, grantee id)): no device may be left unable to open
    the new version. A 409: the list changed since the admin's device read it."""
    missing = [d for d in active_devices(conn, caller.tenant_id)
               if ("DEVICE", d) not in granted]
    if missing:
        raise ApiError(409, "grantees_changed", f"{len(missing)} approved device"
                       f"{'s' if len(missing) != 1 else ''} would not receive the new key "
                       "(a device was approved meanwhile); fetch the grantees and try "
                       "again. Nothing was changed.", missing_devices=missing)
    key_id = escrow_grantee(conn, caller.tenant_id, previous) if previous else None
    if key_id is not None and ("SERVER", key_id) not in granted:
        raise ApiError(409, "grantees_changed", "Your organisation keeps a server escrow "
                       "copy of its PHI key: the new version must be granted to the escrow "
                       "key too. Fetch the grantees and try again. Nothing was changed.")


def check_device_id(device_id: str) -> str:
    """A device id from a request body, or a 400."""
    if not is_id(device_id):
        raise bad_request("invalid_device_id", "device_id must be a device id (25 letters "
                          "and digits, starting with c).")
    return device_id


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
