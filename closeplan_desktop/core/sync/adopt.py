"""Connecting an existing standalone workspace: the organisation is created on the server
from it (issue 12, "Connect"; the server's side is `server.adopt`).

An admin of the workspace signs in here (their keys are needed to grant the PHI keys),
then, with a setup code that the server's operator gave (or the one `closeplan-server
dev` printed):

1. the server creates the tenant with the workspace's own tenant, user and PHI key
   version ids (the PHI envelopes bind tenant id, deal id and key version: nothing is
   re-encrypted), its users and roles; the admin's password is the one typed here, other
   users keep the bcrypt hash the outbox still holds for sync, or must be reset by an
   admin (`server.adopt.RESET_REQUIRED`);
2. this device enrols and, as the tenant's first device, approves itself, sending every
   PHI key version wrapped for its own agreement key (the grants the server keeps);
3. the deals go up in batches as they are here (ids, owners, times, tombstones);
4. the workspace's audit rows go up through the normal signed audit upload;
5. the server closes the import, and one local transaction marks the outbox rows that
   the upload carried as sent and records the connection; a bootstrap then gives every
   row its server version and the pull its cursor.

All or nothing for the user: until step 5 the workspace stays standalone and works as
before; a run broken anywhere is resumed by running it again (the server's tenant is
found by signing in, the deals import is idempotent, the audit upload resumes from its
receipts). The outbox rows written after the snapshot that went up stay pending and are
pushed by the next sync. The password and the setup code are never stored or logged.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import money, validation
from ..domain.clock import iso, utcnow
from ..domain.enums import PhiKeyState, UserRole
from ..domain.errors import PermissionDenied, ServerRefused, SyncError
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.device_keys import DeviceKeys
from ..security.keyring_store import phi_slot
from ..security.passwords import is_bcrypt_hash
from ..store import db, key_vault, lease, workspace
from ..store.key_vault import _set_meta  # the one writer of a meta row
from ..store.models import Meta, PhiKey, SyncConnection, Tenant, User, cents_to_decimal
from ..store.workspace import Workspace
from ..usecases import auth
from . import audit_upload
from .bootstrap import bootstrap
from .connect import _enrol, _server_key, device_name, device_status
from .engine import CONNECTED, connection, with_retries
from .transport import Transport

DEAL_BATCH = 1000  # the server's limit per import request
MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEAL_OVERHEAD = 400  # a deal's JSON besides its title and PHI envelope, generously
# The last outbox row the users sent to the server reflect (kept across a resumed run).
META_USERS_MARK = "adoption_users_mark"
# The same for the deals uploaded, kept until the server's import is closed and this
# workspace connected (a run broken between the two finds it here).
META_DEALS_MARK = "adoption_deals_mark"
# The bcrypt costs the server takes (server.sync.push_users.BCRYPT_COSTS); a hash made at
# another cost cannot go up, and its user must be reset by an admin.
SERVER_COSTS = range(10, 15)
_DEALS = ("SELECT id, title, status, value, phi, phi_key_version, created_by_id, created_at, "
          "updated_at, deleted_at, owner_id, expected_close_date, probability FROM deals "
          "WHERE id > ? ORDER BY id LIMIT ?")


@dataclass(frozen=True)
class Adopted:
    """What connecting the workspace did."""

    tenant_id: str
    created: bool  # False: the server had the tenant already (a resumed run)
    deals: int
    audit_rows: int
    users_to_reset: tuple[str, ...]  # emails that must get a password from an admin


def _raw(s: Session) -> Any:
    raw = s.connection().connection.driver_connection
    assert raw is not None
    return raw


def _max_outbox(s: Session) -> int:
    return int(_raw(s).execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])


def _latest_hashes(s: Session) -> dict[str, str]:
    """Each user's newest bcrypt hash the outbox still holds for sync (the local rows
    keep none for users with a key slot)."""
    latest: dict[str, Any] = {}
    for user_id, hashed in _raw(s).execute(
            "SELECT entity_id, json_extract(payload, '$.password') FROM outbox WHERE "
            "entity = 'users' ORDER BY id"):
        if isinstance(hashed, str) and is_bcrypt_hash(hashed):  # not a row's marker
            latest[user_id] = hashed
    # Only the newest: an older hash is an older password, never to be sent instead.
    return {u: h for u, h in latest.items() if usable_hash(h)}


def usable_hash(hashed: Any) -> bool:
    """Whether the server can take `hashed` as a user's password hash."""
    return isinstance(hashed, str) and is_bcrypt_hash(hashed) \
        and hashed[4:6].isdigit() and int(hashed[4:6]) in SERVER_COSTS


def _time(value: Any) -> str | None:
    return None if value is None else iso(value)


def _sole_tenant(s: Session) -> Tenant:
    found = list(s.scalars(select(Tenant).limit(2)))
    if len(found) != 1:
        raise SyncError("This workspace holds no organisation, or more than one (an older "
                        "workspace): it cannot become one organisation on a server.")
    return found[0]


def snapshot(s: Session, admin_id: str) -> dict[str, Any]:
    """The tenant, users (with hashes where the outbox has one) and PHI key versions of
    the workspace, as `POST /v1/setup/adopt` takes them."""
    tenant = _sole_tenant(s)
    hashes = _latest_hashes(s)
    users = []
    for u in s.scalars(select(User).where(User.tenant_id == tenant.id).order_by(User.id)):
        hashed = hashes.get(u.id) or (u.password if usable_hash(u.password) else None)
        users.append({"id": u.id, "email": u.email, "first_name": u.first_name,
                      "last_name": u.last_name, "role": u.role.value,
                      "created_at": _time(u.created_at),
                      "deactivated_at": _time(u.deactivated_at), "password_hash": hashed})
    keys = [{"version": k.version, "state": k.state.value}
            for k in s.scalars(select(PhiKey).where(PhiKey.tenant_id == tenant.id)
                               .order_by(PhiKey.version))]
    return {"admin_id": admin_id, "users": users, "phi_keys": keys,
            "tenant": {"id": tenant.id, "name": tenant.name, "domain": tenant.domain}}


def _admin(ws: Workspace, email: str, password: str) -> str:
    """Sign the admin in here (their keys must be held to grant them); their user id.
    Anyone else is refused before the server is contacted."""
    session = auth.sign_in(ws, email, password)
    if session.role != UserRole.ADMIN:
        raise PermissionDenied("Only an administrator of this workspace can connect it to "
                               "a server; ask one to do it.")
    return session.user_id


def connect_workspace(path: Path, url: str, email: str, password: str, code: str, *,
                      name: str | None = None, progress: Progress = no_progress,
                      cancel: CancelToken | None = None
                      ) -> tuple[Workspace, Transport, Adopted]:
    """Create the organisation on the server at `url` from the standalone workspace at
    `path` (or finish a run that was broken), as its admin `email`. Returns the open,
    now connected workspace, a signed-in transport and what was done."""
    ws = workspace.open_workspace(path)
    try:
        transport, adopted = connect_open(ws, url, email, password, code, name=name,
                                          progress=progress, cancel=cancel)
    except BaseException:
        ws.close()
        raise
    return ws, transport, adopted


def connect_open(ws: Workspace, url: str, email: str, password: str, code: str, *,
                 name: str | None = None, progress: Progress = no_progress,
                 cancel: CancelToken | None = None) -> tuple[Transport, Adopted]:
    """`connect_workspace` for a workspace the caller holds open (the window's own)."""
    email = validation.email(email)
    if connection(ws) is not None:
        raise SyncError("This workspace is already connected to a server; use "
                        "'closeplan-admin sync'.")
    admin_id = _admin(ws, email, password)
    transport = Transport(url)
    transport.keyring = ws.keyring
    try:
        adopted = _run(ws, transport, email, password, code, admin_id,
                       name or device_name(), progress, cancel)
    except BaseException:
        transport.close()
        raise
    return transport, adopted


def _create_or_find(ws: Workspace, transport: Transport, email: str, password: str,
                    code: str, admin_id: str) -> tuple[str, bool]:
    """The server's tenant of this workspace: found by signing in (a resumed run), or
    created now. Returns (tenant id, created)."""
    with db.read_session(ws.engine) as s:
        tenant_id = _sole_tenant(s).id
    try:
        who = transport.sign_in(email, password)
    except ServerRefused as exc:
        if exc.status != 401:
            raise
        who = None
    if who is not None:
        if who.tenant_id != tenant_id or who.user_id != admin_id:
            raise SyncError("This email belongs to another organisation on this server. "
                            "Joining an existing organisation with a workspace's data is "
                            "not possible yet: connect a new workspace folder instead.")
        return tenant_id, False
    with db.write_session(ws.engine) as s:
        body = snapshot(s, admin_id)
        _set_meta(s, META_USERS_MARK, str(_max_outbox(s)))
    transport.call("POST", "/v1/setup/adopt", auth=False,
                   json={**body, "code": code, "password": password})
    transport.sign_in(email, password)
    return tenant_id, True


def _grants(ws: Workspace, tenant_id: str, keys: DeviceKeys) -> list[dict[str, Any]]:
    """Every PHI key version held here, wrapped for this device's agreement key."""
    with db.read_session(ws.engine) as s:
        versions = list(s.scalars(select(PhiKey.version).where(
            PhiKey.tenant_id == tenant_id, PhiKey.state != PhiKeyState.RETIRED)))
    out = []
    for version in versions:
        key = ws.keyring.held(phi_slot(tenant_id, version))
        if key is None:
            raise SyncError(f"PHI key version {version} is not unlocked on this laptop: "
                            "import the recovery kit, sign in again, then connect.")
        wrapped = crypto.wrap_key(keys.agreement_public, tenant_id, version, key)
        out.append({"key_version": version, "grantee_kind": "DEVICE",
                    "grantee_id": ws.device_id,
                    "wrapped": base64.b64encode(wrapped).decode("ascii")})
    return out


def _enrol_first(ws: Workspace, transport: Transport, tenant_id: str, name: str) -> None:
    """Enrol this device and approve it as the tenant's first, with its PHI key grants
    (skipped when a resumed run finds it approved already)."""
    try:
        status = device_status(transport, ws.device_id)
    except ServerRefused as exc:
        if exc.status != 404:
            raise
        status = None
    if status == "ACTIVE":
        return
    if status == "REVOKED":
        raise SyncError("This laptop was revoked on the server; ask the server's operator.")
    keys = key_vault.device_keys(ws)
    code = _enrol(ws, transport, keys, name)
    try:
        transport.call("POST", f"/v1/devices/{ws.device_id}/approve",
                       json={"code": code, "grants": _grants(ws, tenant_id, keys)})
    except ServerRefused as exc:
        if exc.status in (403, 409):
            raise SyncError("Another device of this organisation was approved first; this "
                            "workspace cannot be connected as its first laptop.") from None
        raise


def _deal_json(row: tuple[Any, ...]) -> dict[str, Any]:
    (deal_id, title, status, cents, phi, version, creator, created, updated, deleted, owner,
     close, chance) = row
    return {"id": deal_id, "title": title, "status": status,
            "value": money.to_text(cents_to_decimal(int(cents))), "phi": phi,
            "phi_key_version": version, "created_by_id": creator, "created_at": created,
            "updated_at": updated, "deleted_at": deleted, "owner_id": owner or creator,
            "expected_close_date": close, "probability": chance}


def _within_bytes(rows: list[Any]) -> list[Any]:
    """The first rows of a batch whose request stays well below the server's body limit
    (8 MiB): PHI envelopes of large objects make some batches heavy."""
    size = 0
    for n, row in enumerate(rows):
        size += DEAL_OVERHEAD + len(row[1]) + len(row[4] or "")
        if size > MAX_REQUEST_BYTES and n > 0:
            return rows[:n]
    return rows


def upload_deals(ws: Workspace, transport: Transport, *, progress: Progress = no_progress,
                 cancel: CancelToken | None = None, batch: int = DEAL_BATCH) -> tuple[int, int]:
    """Send every deal (deleted ones too) as it is here, from one read snapshot. Returns
    (deals sent, the last outbox row that snapshot reflects)."""
    sent = 0
    with db.read_session(ws.engine) as s:
        raw = _raw(s)
        mark = _max_outbox(s)  # in the same snapshot as the deals read below
        total = int(raw.execute("SELECT count(*) FROM deals").fetchone()[0])
        after = ""
        while True:
            rows = raw.execute(_DEALS, (after, batch)).fetchall()
            if not rows:
                return sent, mark
            rows = _within_bytes(rows)
            body = {"deals": [_deal_json(tuple(r)) for r in rows]}
            with_retries(functools.partial(transport.call, "POST", "/v1/adopt/deals",
                                           json=body))
            sent += len(rows)
            after = rows[-1][0]
            progress(sent, total)
            if cancel is not None:
                cancel.check()


def _closed_earlier(ws: Workspace, exc: ServerRefused) -> tuple[int, int]:
    """A run broken after the server closed the import (and before this workspace
    recorded its connection): the deals went up then, as of the outbox row it kept."""
    with db.read_session(ws.engine) as s:
        meta = s.get(Meta, META_DEALS_MARK)
        count = int(_raw(s).execute("SELECT count(*) FROM deals").fetchone()[0])
    if exc.code != "adoption_closed" or meta is None:
        raise exc
    return count, int(meta.value)


def _upload_audit(ws: Workspace, transport: Transport, tenant_id: str,
                  server_key: bytes) -> int:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = transport.call("POST", path, json=body)
        return answer
    done = audit_upload.upload(ws, post, key_vault.device_keys(ws).signing, server_key,
                               tenant_id)
    return sum(done.rows.values())


def _finish_server(transport: Transport) -> None:
    try:
        transport.call("POST", "/v1/adopt/finish")
    except ServerRefused as exc:
        if exc.code != "adoption_closed":  # closed by an earlier, broken run
            raise


def _connect_here(ws: Workspace, transport: Transport, tenant_id: str, admin_id: str,
                  pinned: dict[str, Any], deals_mark: int) -> SyncConnection:
    """The one local transaction that makes the workspace connected: the outbox rows the
    server received through the upload are marked sent (their hashes dropped), and the
    connection is recorded."""
    now = iso(utcnow())
    with db.write_session(ws.engine) as s:
        meta = s.get(Meta, META_USERS_MARK)
        users_mark = int(meta.value) if meta is not None else 0
        _raw(s).execute(
            "UPDATE outbox SET acked_at = ?, verdict = 'adopted', payload = CASE WHEN "
            "entity = 'users' THEN json_set(payload, '$.password', NULL) ELSE payload END "
            "WHERE acked_at IS NULL AND ((entity = 'deals' AND id <= ?) OR "
            "(entity <> 'deals' AND id <= ?))", (now, deals_mark, users_mark))
        _set_meta(s, META_USERS_MARK, None)
        _set_meta(s, META_DEALS_MARK, None)
        key_vault.set_enrolled(s)
        s.add(SyncConnection(id=1, url=transport.url, tenant_id=tenant_id, user_id=admin_id,
                             device_id=ws.device_id, server_key_id=pinned["key_id"],
                             server_key=pinned["public_key"], status=CONNECTED))
    conn = connection(ws)
    assert conn is not None
    return conn


def _run(ws: Workspace, transport: Transport, email: str, password: str, code: str,
         admin_id: str, name: str, progress: Progress, cancel: CancelToken | None
         ) -> Adopted:
    tenant_id, created = _create_or_find(ws, transport, email, password, code, admin_id)
    pinned = _server_key(transport)
    _enrol_first(ws, transport, tenant_id, name)
    # Device-bound tokens: the import, audit upload and sync need an approved device.
    transport.sign_in(email, password, ws.device_id)
    lease.contact(ws.keyring)
    try:
        deals, deals_mark = upload_deals(ws, transport, progress=progress, cancel=cancel)
        with db.write_session(ws.engine) as s:
            _set_meta(s, META_DEALS_MARK, str(deals_mark))
    except ServerRefused as exc:
        deals, deals_mark = _closed_earlier(ws, exc)
    audit_rows = _upload_audit(ws, transport, tenant_id,
                               base64.b64decode(pinned["public_key"]))
    _finish_server(transport)
    with db.read_session(ws.engine) as s:
        users = snapshot(s, admin_id)["users"]
    to_reset = tuple(u["email"] for u in users if u["id"] != admin_id
                     and not u["password_hash"] and not u["deactivated_at"])
    conn = _connect_here(ws, transport, tenant_id, admin_id, pinned, deals_mark)
    bootstrap(ws, transport, conn, progress=progress, cancel=cancel)
    return Adopted(tenant_id, created, deals, audit_rows, to_reset)
