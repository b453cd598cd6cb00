"""An admin's devices work from a connected laptop: list the tenant's devices, approve a
waiting one with the code it shows (wrapping this tenant's PHI keys for it, here: the
server never sees a PHI key), revoke one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.enums import PhiKeyState
from ..domain.errors import KeyMissing, NotFoundError, ValidationError
from ..domain.ids import is_id
from ..security import crypto
from ..security.keyring_store import phi_slot
from ..store import db
from ..store.models import PhiKey
from ..store.workspace import Workspace
from .engine import require_connected
from .transport import Transport


@dataclass(frozen=True)
class Device:
    id: str
    user_id: str
    name: str
    status: str
    created_at: str
    last_seen_at: str = ""

    @classmethod
    def of(cls, d: dict[str, Any]) -> Device:
        return cls(str(d["id"]), str(d["user_id"]), str(d["name"]), str(d["status"]),
                   str(d.get("created_at") or ""), str(d.get("last_seen_at") or ""))


def list_devices(transport: Transport, status: str | None = None) -> list[Device]:
    """The tenant's devices (an admin), or the caller's own (a user)."""
    out: list[Device] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        page = transport.call("GET", "/v1/devices", params=params)
        out += [Device.of(d) for d in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def _pick(transport: Transport, device_id: str | None) -> str:
    if device_id is not None:
        if not is_id(device_id):
            raise ValidationError("That is not a device id (25 letters and digits, starting "
                                  "with c); 'closeplan-admin devices list' shows them.")
        return device_id
    waiting = list_devices(transport, "PENDING")
    if not waiting:
        raise NotFoundError("No device is waiting for approval.")
    if len(waiting) > 1:
        raise ValidationError(f"{len(waiting)} devices are waiting for approval: name the "
                              "one to approve with --device (see 'closeplan-admin devices "
                              "list').")
    return waiting[0].id


def _grants(ws: Workspace, tenant_id: str, device_id: str, kem_public: bytes
            ) -> list[dict[str, Any]]:
    """This tenant's usable PHI key versions, each wrapped for the new device."""
    with db.read_session(ws.engine) as s:
        versions = s.scalars(select(PhiKey.version).where(
            PhiKey.tenant_id == tenant_id, PhiKey.state != PhiKeyState.RETIRED)).all()
    grants = []
    for version in versions:
        # Held in memory while a user is signed in (`key_vault`): never read from disk.
        key = ws.keyring.held(phi_slot(tenant_id, version))
        if key is None:
            raise KeyMissing(f"PHI key version {version} is locked on this laptop: sign in "
                             "as an administrator who holds it to approve a device (its "
                             "approval grants the new device the PHI keys).")
        wrapped = crypto.wrap_key(kem_public, tenant_id, version, key)
        grants.append({"key_version": version, "grantee_kind": "DEVICE",
                       "grantee_id": device_id,
                       "wrapped": base64.b64encode(wrapped).decode("ascii")})
    return grants


def approve(ws: Workspace, transport: Transport, code: str,
            device_id: str | None = None) -> Device:
    """Approve the waiting device (the only one, or `device_id`) with the code its screen
    shows, granting it the tenant's PHI keys wrapped for its key."""
    conn = require_connected(ws)
    target = _pick(transport, device_id)
    found = transport.call("GET", f"/v1/devices/{target}")
    kem = found.get("kem_public_key")
    if not kem:
        raise ValidationError("That device has no key to grant PHI keys to; it must enrol "
                              "again.")
    grants = _grants(ws, conn.tenant_id, target, base64.b64decode(kem))
    server = {int(v["version"]) for v in transport.call("GET", "/v1/keys/versions")["versions"]
              if v["state"] != PhiKeyState.RETIRED.value}
    if server - {int(g["key_version"]) for g in grants}:
        raise ValidationError("The organisation's PHI key was rotated since this laptop last "
                              "synced: sync now, then approve the device again (nothing was "
                              "changed).")
    done = transport.call("POST", f"/v1/devices/{target}/approve",
                          json={"code": str(code).strip(), "grants": grants})
    return Device.of(done)


def revoke(transport: Transport, device_id: str, reason: str | None = None) -> None:
    """Revoke a device: its sessions and grants end; it is told to wipe at its next call."""
    if not is_id(device_id):
        raise ValidationError("That is not a device id; 'closeplan-admin devices list' "
                              "shows them.")
    transport.call("POST", f"/v1/devices/{device_id}/revoke", json={"reason": reason})
