"""Revocation (issue 12; SYNC.md, "Revocation"): what this laptop does with the server's
401 answers.

A revoked device's 401 carries a wipe order signed by the server key. `on_unauthorized`
checks it against the key pinned at enrolment and that it names this organisation and
this device; then it writes a security event (uploaded when the server still takes it,
else kept in the database that is about to go), deletes every keyring entry of the
workspace (without the database key the file is noise: crypto-shredding) and removes the
workspace folder. An order that is unsigned, badly signed or for another device is
refused and logged, and nothing is wiped. A 401 without an order (a deactivated user, a
session ended elsewhere) ends the local session with the server's reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from sqlalchemy import select

from ..domain import audit_batch as ab
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import (
    ClosePlanError,
    DeviceRevoked,
    DeviceWiped,
    SessionEnded,
    SignedOut,
    WipeOrderRefused,
)
from ..security.keyring_store import (
    ANCHOR_SLOT,
    AUDIT_SLOT,
    DB_PENDING_SLOT,
    DB_SLOT,
    DEVICE_ID_SLOT,
    LEASE_SLOT,
    SERVER_KEY_SLOT,
    UNLOCK_SLOT,
    phi_slot,
)
from ..security.signatures import verifies_b64
from ..store import db
from ..store.audit_log import log_event
from ..store.models import PhiKey
from ..store.workspace import Workspace
from .transport import APPROVAL_SLOT, REFRESH_SLOT

ENDED = "The server ended this session: {reason} Sign in again when you can."


def check_order(order: object, server_key: bytes, tenant_id: str, device_id: str
                ) -> dict[str, Any]:
    """The wipe order when it is signed by `server_key` and names this organisation and
    device; raises WipeOrderRefused (saying why, without the order's content) otherwise."""
    if not isinstance(order, Mapping) or order.get("type") != "wipe":
        raise WipeOrderRefused("The server's answer holds no wipe order in the expected "
                               "form; nothing was wiped.")
    fields = ("tenant_id", "device_id", "revoked_at", "reason")
    if not all(isinstance(order.get(f), str) for f in fields):
        raise WipeOrderRefused("The wipe order lacks one of its fields; nothing was wiped.")
    message = ab.wipe_order_message(order["tenant_id"], order["device_id"],
                                    order["revoked_at"], order["reason"])
    if not verifies_b64(server_key, message, order.get("signature")):
        raise WipeOrderRefused("The wipe order is not signed by your organisation's server "
                               "key pinned on this laptop; nothing was wiped.")
    if order["tenant_id"] != tenant_id or order["device_id"] != device_id:
        raise WipeOrderRefused("The wipe order is for another laptop or organisation; "
                               "nothing was wiped.")
    return dict(order)


def on_unauthorized(ws: Workspace, refused: DeviceRevoked | SignedOut, server_key: bytes,
                    tenant_id: str, *, user_id: str | None = None,
                    upload: Callable[[], object] | None = None,
                    extra_slots: Iterable[str] = ()) -> NoReturn:
    """Handle the server's 401 (`refused`, as the transport raised it). Always
    raises: DeviceWiped after a valid wipe order was carried out (the workspace is
    closed and gone), WipeOrderRefused for an order that is not valid (logged; nothing
    wiped), SessionEnded for a 401 without an order. `upload` sends the audit rows
    (core.sync.audit_upload, bound by the caller); `extra_slots` are keyring slots of
    this workspace made by other parts (the device keys)."""
    if not isinstance(refused, DeviceRevoked) or refused.wipe_order is None:
        reason = str(refused) or "you were signed out."
        raise SessionEnded(ENDED.format(reason=reason))
    order_body = refused.wipe_order
    try:
        order = check_order(order_body, server_key, tenant_id, ws.device_id)
    except WipeOrderRefused as refused:
        with db.write_session(ws.engine) as s:
            log_event(s, ws, Ev.WIPE_ORDER_REFUSED, tenant_id, user_id, {"why": str(refused)})
        raise
    with db.write_session(ws.engine) as s:
        log_event(s, ws, Ev.DEVICE_WIPED, tenant_id, user_id,
                  {"revoked_at": order["revoked_at"], "reason": order["reason"]})
    if upload is not None:
        try:  # a revoked device's token is refused: usually this stays local, and goes
            upload()
        except ClosePlanError:
            pass
    wipe(ws, extra_slots)
    raise DeviceWiped("An admin of your organisation revoked this laptop: its ClosePlan "
                      "workspace was removed. Ask your admin if this is unexpected.")


def wipe(ws: Workspace, extra_slots: Iterable[str] = ()) -> None:
    """Delete every keyring entry of the workspace, close it and remove its folder."""
    with db.read_session(ws.engine) as s:
        phi = [phi_slot(t, v) for t, v in s.execute(select(PhiKey.tenant_id, PhiKey.version))]
    keys = ws.keyring
    slots = {DB_SLOT, DB_PENDING_SLOT, ws.db_slot, AUDIT_SLOT, ANCHOR_SLOT, SERVER_KEY_SLOT,
             LEASE_SLOT, UNLOCK_SLOT, DEVICE_ID_SLOT, REFRESH_SLOT, APPROVAL_SLOT, *phi,
             *extra_slots}
    ws.close()  # the anchor's last write first, then nothing holds the keys or the lock
    for slot in sorted(slots | keys.listed_slots()):
        keys.delete(slot)
    keys.forget()
    shutil.rmtree(ws.path, ignore_errors=True)
