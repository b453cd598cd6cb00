"""PHI key rotation, standalone or online (SYNC.md, "Keys": PHI key versions are an
online-only compare-and-swap).

A standalone workspace rotates alone (`key_admin.rotate_phi`: a new version, every row
re-encrypted). A connected one rotates with the server: the admin's laptop syncs first
(its view of the key versions is then the server's), makes the new key, wraps it (HPKE)
for every approved device of the tenant (the server lists their public keys) and for
the server's escrow key when the tenant keeps an escrow grant, and posts it with the
version it believes active. The server takes it only if that version is still active
and the grants reach every approved device; a lost race changes nothing anywhere and
says so. Then the laptop records the version (active, held, wrapped for its slots).
Other devices receive their grant at their next sync (`engine.apply_page` keeps and
opens it). Rows are not re-encrypted: the server's envelopes stay as they are, every
device keeps the older versions to open them, and new PHI is sealed with the new one.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.enums import PhiKeyState
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import ServerRefused, SyncError, ValidationError
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.keyring_store import phi_slot
from ..store import db, key_vault, phi_keys
from ..store.audit_log import log_event
from ..store.models import PhiKey
from ..usecases import frame, key_admin
from ..usecases.frame import AuthSession
from . import engine
from .transport import Transport

MAX_GRANTS = 100  # the server's limit per request
NEEDS_SERVER = ("This workspace syncs with a server, and rotating its PHI key is done "
                "with the server, which cannot be reached now. Nothing was changed; try "
                "again when this laptop is online.")
LOST_RACE = ("Another administrator rotated the PHI key while this laptop was rotating it "
             "(the active version is now v{active}). Nothing was changed; sync, and rotate "
             "again only if a new key is still needed.")
DEVICES_CHANGED = ("A device was approved (or the escrow setting changed) while this laptop "
                   "was rotating the PHI key, so the new key would not have reached it. "
                   "Nothing was changed; rotate again.")


@dataclass(frozen=True)
class Rotated:
    """What a rotation did: the new active version, the rows re-encrypted here, and
    whether it was done with the server."""

    version: int
    reencrypted: int
    online: bool


def rotate_phi(session: AuthSession, progress: Progress = no_progress,
               cancel: CancelToken | None = None, *, transport: Transport | None = None,
               sleep: Callable[[float], None] = time.sleep) -> Rotated:
    """Admin use case: make a new active PHI key version. Standalone: every row is
    re-encrypted under it (resumable). Connected: online, with the server
    (`rotate_online`); SyncError with a clear message when the server cannot be reached
    or another admin rotated first."""
    ws = session.ws
    if engine.connection(ws) is None:
        rows = key_admin.rotate_phi(session, progress, cancel)
        with db.read_session(ws.engine) as s:
            return Rotated(phi_keys.active_version(s, session.tenant_id), rows, False)
    return Rotated(rotate_online(session, transport=transport, sleep=sleep), 0, True)


def rotate_online(session: AuthSession, *, transport: Transport | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> int:
    """Rotate a connected workspace's PHI key with the server (module docstring);
    returns the new version."""
    ws = session.ws
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "keys.rotate_phi")
    conn = engine.require_connected(ws)
    own = transport is None
    transport = transport or engine.open_transport(ws, conn)
    try:
        engine.sync_once(ws, transport, sleep=sleep)  # this laptop's versions are the server's
        plan = transport.call("GET", "/v1/keys/grantees")
        versions = transport.call("GET", "/v1/keys/versions")["versions"]
        active = int(plan["active_version"])
        new = max((int(v["version"]) for v in versions), default=0) + 1
        key = crypto.new_key()
        grants = _grants(conn.tenant_id, new, key, plan)
        if len(grants) > MAX_GRANTS:
            raise ValidationError(f"The organisation has {len(grants)} key holders; an "
                                  f"online rotation reaches at most {MAX_GRANTS}.")
        try:
            transport.call("POST", "/v1/keys/rotate",
                           json={"expected_active": active, "grants": grants})
        except ServerRefused as exc:
            if exc.code == "key_version_changed":
                now = exc.details.get("active_version", "?")
                raise SyncError(LOST_RACE.format(active=now)) from None
            if exc.code == "grantees_changed":
                raise SyncError(DEVICES_CHANGED) from None
            raise
    except SyncError as exc:
        if exc.transient:
            raise SyncError(NEEDS_SERVER) from None
        raise
    finally:
        if own:
            transport.close()
    _record(session, active, new, key, len(grants))
    return new


def _grants(tenant_id: str, version: int, key: bytes,
            plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The new version wrapped for every approved device and the escrow key."""
    out = [{"key_version": version, "grantee_kind": "DEVICE", "grantee_id": str(d["id"]),
            "wrapped": _wrap(base64.b64decode(d["kem_public_key"]), tenant_id, version, key)}
           for d in plan["devices"]]
    escrow = plan.get("escrow")
    if escrow:
        out.append({"key_version": version, "grantee_kind": "SERVER",
                    "grantee_id": str(escrow["key_id"]),
                    "wrapped": _wrap(base64.b64decode(escrow["public_key"]), tenant_id,
                                     version, key)})
    return out


def _wrap(public: bytes, tenant_id: str, version: int, key: bytes) -> str:
    return base64.b64encode(crypto.wrap_key(public, tenant_id, version, key)).decode("ascii")


def _record(session: AuthSession, previous: int, new: int, key: bytes, grants: int) -> None:
    """The server took the new version: make it active here, held and wrapped for the
    local slots (were this lost, the next pull brings it with this device's grant)."""
    ws = session.ws
    with db.write_session(ws.engine) as s:
        old = s.get(PhiKey, (session.tenant_id, previous))
        if old is not None and old.state == PhiKeyState.ACTIVE:
            old.state = PhiKeyState.DECRYPT_ONLY
            s.flush()
        if s.get(PhiKey, (session.tenant_id, new)) is None:
            phi_keys.new_version(s, ws, session.tenant_id, new, session.user_id, key)
        else:  # a pull brought its row meanwhile
            ws.keyring.remember(phi_slot(session.tenant_id, new), key)
            key_vault.grant_held(s, ws)
        log_event(s, ws, Ev.KEY_ROTATED, session.tenant_id, session.user_id,
                  {"key": "phi", "from": previous, "to": new, "online": True,
                   "grants": grants})
