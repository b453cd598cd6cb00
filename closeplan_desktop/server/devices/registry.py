"""Devices: reading them, the caller's own device, revocation and the wipe order.

A device is a laptop's enrolment in its tenant (table `devices`): PENDING until an
admin's device approves it, then ACTIVE, REVOKED for good once revoked. Revoking ends
every session of the device, revokes the key grants made for it, and leaves a wipe order
signed by the server key, which the device receives at its next contact (SYNC.md,
"Revocation"). The signed order is kept in the DEVICE_REVOKED security event, so the
same order is answered however often the device calls.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from psycopg import sql

from ...core.domain import validation
from ...core.domain.audit_batch import wipe_order_message
from ...core.domain.clock import iso
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from ..audit import events
from ..audit.paging import fetch_page
from ..caller import Caller
from ..db.pool import Connection
from ..errors import bad_request, conflict, forbidden, not_found
from ..events import record_event
from ..keys.signing import SigningKey

PENDING, ACTIVE, REVOKED = "PENDING", "ACTIVE", "REVOKED"
DEFAULT_REASON = "Device revoked"

COLUMNS = ("id", "user_id", "name", "status", "sign_public_key", "kem_public_key",
           "approved_by_id", "created_at", "approved_at", "revoked_at", "last_seen_at")
SELECT = ("SELECT id, user_id, name, status, sign_public_key, kem_public_key, approved_by_id, "
          "created_at, approved_at, revoked_at, last_seen_at FROM devices")  # COLUMNS


def b64(data: bytes | None) -> str | None:
    """Bytes as base64 text (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def _one(conn: Connection, query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def device_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A device row (COLUMNS order) as the API shows it; never its approval code."""
    out: dict[str, Any] = {}
    for name, value in zip(COLUMNS, row, strict=True):
        if isinstance(value, bytes | memoryview):
            value = b64(bytes(value))
        elif isinstance(value, datetime):
            value = iso(value)
        out[name] = value
    return out


def get_device(conn: Connection, caller: Caller, device_id: str) -> dict[str, Any]:
    """One device of the caller's tenant: any for an admin, their own for a user
    (another's answers 404, as a device of another tenant does)."""
    row = conn.execute(f"{SELECT} WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, device_id)).fetchone()
    if row is None or (not caller.is_admin and row[1] != caller.user_id):
        raise not_found("device_not_found", "No such device in your organisation.")
    return device_dict(row)


def begin_write(conn: Connection, caller: Caller) -> None:
    """Take the tenant's write lock first (its next sync version, migration 0004), before
    reading what the write depends on: the tenant's writers are serialised, and always
    lock the tenant row before any device row (one lock order, no deadlock)."""
    conn.execute("SELECT next_sync_version(%s)", (caller.tenant_id,))


def active_device(conn: Connection, caller: Caller) -> tuple[str, bytes]:
    """The caller's own device (its id and Ed25519 public key), which must be ACTIVE
    and belong to the caller."""
    if caller.device_id is None:
        raise forbidden("device_required", "Sign in from an approved device to do this.")
    row = conn.execute("SELECT user_id, status, sign_public_key FROM devices "
                       "WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, caller.device_id)).fetchone()
    if row is None or row[0] != caller.user_id or row[1] != ACTIVE or row[2] is None:
        raise forbidden("device_not_active", "This device is not an approved device of "
                        "yours; enrol it and have an admin approve it.")
    return caller.device_id, bytes(row[2])


def revoke(conn: Connection, caller: Caller, key: SigningKey, device_id: str,
           reason: str | None = None) -> dict[str, Any]:
    """Revoke a device (an admin, or the device's own user): status REVOKED, its
    sessions and key grants revoked now, and a signed wipe order; returns the order."""
    try:
        why = DEFAULT_REASON if reason is None else validation.reason(reason)
    except ValidationError as e:
        raise bad_request("invalid_reason", str(e)) from None
    begin_write(conn, caller)
    row = conn.execute("SELECT user_id, status FROM devices WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, device_id)).fetchone()
    if row is None or (not caller.is_admin and row[0] != caller.user_id):
        raise not_found("device_not_found", "No such device in your organisation.")
    if row[1] == REVOKED:
        raise conflict("device_already_revoked", "This device is already revoked.")
    revoked_at = _one(conn, "SELECT now()")
    conn.execute("UPDATE devices SET status = 'REVOKED', revoked_at = %s, "
                 "approval_code_hash = NULL WHERE tenant_id = %s AND id = %s",
                 (revoked_at, caller.tenant_id, device_id))
    ended = conn.execute("UPDATE sessions SET revoked_at = %s WHERE tenant_id = %s AND "
                         "device_id = %s AND revoked_at IS NULL",
                         (revoked_at, caller.tenant_id, device_id)).rowcount
    grants = conn.execute("UPDATE key_grants SET revoked_at = %s WHERE tenant_id = %s AND "
                          "grantee_kind = 'DEVICE' AND grantee_id = %s AND revoked_at IS NULL",
                          (revoked_at, caller.tenant_id, device_id)).rowcount
    order = _sign_order(key, caller.tenant_id, device_id, iso(revoked_at), why)
    record_event(conn, events.DEVICE_REVOKED, caller.user_id, device_id=device_id,
                 device_user_id=row[0], sessions_ended=ended, grants_revoked=grants,
                 wipe_order=order)
    return order


def _sign_order(key: SigningKey, tenant_id: str, device_id: str, revoked_at: str,
                reason: str) -> dict[str, Any]:
    signature = key.sign(wipe_order_message(tenant_id, device_id, revoked_at, reason))
    return {"type": "wipe", "tenant_id": tenant_id, "device_id": device_id,
            "revoked_at": revoked_at, "reason": reason, "server_key_id": key.key_id,
            "signature": b64(signature)}


def wipe_order(conn: Connection, caller_or_ids: Caller | tuple[str, str] | str
               ) -> dict[str, Any] | None:
    """The signed wipe order of a revoked device, or None when the device is not revoked
    (or unknown). Takes a Caller (its tenant and device), (tenant_id, device_id), or a
    device id of the connection's tenant; the connection must be in that tenant's
    context. For the 401 of a revoked device's token (api.deps.session, through
    app.state.wipe_order): the device reads it, wipes itself and stops calling."""
    device_id: str | None
    if isinstance(caller_or_ids, Caller):
        tenant_id, device_id = caller_or_ids.tenant_id, caller_or_ids.device_id
    elif isinstance(caller_or_ids, str):
        tenant_id = _one(conn, "SELECT current_tenant_id()")
        device_id = caller_or_ids
    else:
        tenant_id, device_id = caller_or_ids
    if device_id is None or not is_id(device_id):
        return None
    row = conn.execute("SELECT revoked_at FROM devices WHERE tenant_id = %s AND id = %s "
                       "AND status = 'REVOKED'", (tenant_id, device_id)).fetchone()
    if row is None:
        return None
    # The revocation's event is written just after revoked_at (index: tenant, time).
    detail = conn.execute(
        'SELECT detail FROM security_events WHERE tenant_id = %s AND "timestamp" >= %s '
        "AND type = %s AND device_id IS NULL AND detail LIKE %s "
        'ORDER BY "timestamp" LIMIT 1',
        (tenant_id, row[0], events.DEVICE_REVOKED, events.device_pattern(device_id))
    ).fetchone()
    if detail is None:
        return None
    order = json.loads(detail[0]).get("wipe_order")
    return order if isinstance(order, dict) else None


def list_devices(conn: Connection, caller: Caller, *, user_id: str | None = None,
                 status: str | None = None, cursor: str | None = None,
                 limit: int | None = None) -> dict[str, Any]:
    """A page of devices: every device of the tenant for an admin (optionally one
    user's, or one status), a user's own for a user."""
    where: list[sql.Composable] = [sql.SQL("tenant_id = %s")]
    params: list[Any] = [caller.tenant_id]
    if not caller.is_admin:
        user_id = caller.user_id
    if user_id is not None:
        if not is_id(user_id):
            raise bad_request("invalid_filter", "user_id must be an id.", field="user_id")
        where.append(sql.SQL("user_id = %s"))
        params.append(user_id)
    if status is not None:
        if status not in (PENDING, ACTIVE, REVOKED):
            raise bad_request("invalid_status", "status must be PENDING, ACTIVE or REVOKED.")
        where.append(sql.SQL("status = %s"))
        params.append(status)
    return fetch_page(conn, table="devices", columns=COLUMNS, sort="created_at", where=where,
                      params=params, cursor=cursor, limit=limit, to_dict=device_dict)
