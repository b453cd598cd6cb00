"""Signing in on a connected laptop: offline by the user's key slot, or, for a user of
the organisation who has no slot here yet (their first sign-in on this laptop), online
once: the server checks the password and the slot is made from it. No password hash
comes from the server.

That online sign-in (a password session, no device) also fetches the server's share for
this device and the device's PHI key grants: the share opens the device keys sealed at
connect (`key_vault.open_with_share`), they open the grants, and the new slot gets the
device keys and the PHI keys at once. The keyring and the database alone open nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from ..domain import validation
from ..domain.errors import ServerRefused, SyncError, ValidationError
from ..security.keyring_store import DEVICE_HELD
from ..security.passwords import is_bcrypt_hash
from ..store import db, key_vault
from ..store.workspace import Workspace
from ..usecases import auth
from ..usecases.frame import AuthSession
from .engine import CONNECTED, connection
from .transport import SignedIn, Transport


def sign_in(ws: Workspace, email: str, password: str) -> AuthSession:
    """`auth.sign_in`, after an online check that makes the user's key slot when this
    connected laptop has none for them. A refused or failed online check changes
    nothing: the offline sign-in then refuses (and logs) as it would."""
    conn = connection(ws)
    if conn is not None and conn.status == CONNECTED and password:
        try:
            user_id = _without_slot(ws, validation.email(email))
        except ValidationError:  # the offline sign-in says what is wrong
            user_id = None
        if user_id is not None:
            who: SignedIn | None = None
            unlock: dict[str, Any] | None = None
            try:
                with Transport(conn.url) as transport:  # no keyring: no token kept
                    who = transport.sign_in(email, password)
                    unlock = _device_unlock(transport, conn.device_id)
            except SyncError:
                who = unlock = None
            if who is not None and (who.user_id, who.tenant_id) == (user_id, conn.tenant_id):
                auth.make_slot(ws, user_id, password)
                if unlock is not None:
                    _open_device(ws, conn.tenant_id, unlock)
    return auth.sign_in(ws, email, password)


def _device_unlock(transport: Transport, device_id: str) -> dict[str, Any] | None:
    """The server's share for this device and its grants (None: refused, e.g. an older
    server or a revoked device: the keys then come the older way)."""
    try:
        answer: dict[str, Any] = transport.call("POST", "/v1/keys/device-unlock",
                                                json={"device_id": device_id})
    except ServerRefused:
        return None
    return answer


def _open_device(ws: Workspace, tenant_id: str, unlock: dict[str, Any]) -> None:
    """Open the sealed device keys and this device's grants with the server's share and
    wrap them for every slot lacking them (the new one); the keys then leave memory
    again: the sign-in that follows unlocks them from the user's own slot."""
    held_before = ws.keyring.held(DEVICE_HELD) is not None
    try:
        grants = [(int(g["key_version"]), base64.b64decode(g["wrapped"]))
                  for g in unlock.get("grants", [])]
        with db.write_session(ws.engine) as s:
            key_vault.open_with_share(s, ws, tenant_id, base64.b64decode(unlock["share"]),
                                      grants)
    finally:
        if not held_before:
            ws.keyring.forget()


def _without_slot(ws: Workspace, email: str) -> str | None:
    """The id of the active local user `email` when they have no key slot and no
    imported hash here (a user the sync brought), else None."""
    with db.read_session(ws.engine) as s:
        user = auth.user_by_email(s, email)
        if user is None or user.deactivated_at is not None or is_bcrypt_hash(user.password):
            return None
        return None if key_vault.has_slot(s, user.id) else user.id
