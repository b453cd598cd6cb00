"""One round of sync: push the outbox, then pull to the server's checkpoint (SYNC.md).

- **Push** sends the unacknowledged outbox rows in order, in batches, each as a
  mutation with this device's next mutation id (1, 2, 3...). The ids are given and
  committed *before* the request, so a crash between push and acknowledgement sends
  the same ids again and the server answers `duplicate`: applied exactly once. Each
  verdict is recorded on its row: applied, merged, conflict and duplicate acknowledge
  it (the server's row comes back by pull); rejected also keeps the refusal in
  `sync_rejections` for the user, and puts the local row back as the server has it
  in the same transaction (users; deals, from `GET /v1/sync/deals/{id}`; a deal
  created here is removed from view as deleted).
- **Pull** reads pages after the stored cursor up to the checkpoint and applies each
  page in one local transaction with the new cursor, so an interrupted pull resumes
  where it stopped. Pulled rows write no outbox and no audit rows (no echo); a row with
  a change still waiting to be pushed is left for the next round, and the stored cursor
  stays before it, so the round after the push reads it again whatever the verdict.
- Transient failures (unreachable, timed out, 5xx) are retried with backoff, a few
  times; then, like every permanent failure, they are raised to the caller, never
  dropped: the outbox keeps what was not acknowledged.
- No thread here: `wait_for_changes` is one long-poll for the caller's own loop.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ..domain.clock import iso, utcnow
from ..domain.errors import DeviceRevoked, KeyMissing, ServerRefused, SignedOut, SyncError
from ..store import db, key_vault, lease, receipts
from ..store.models import SyncConnection
from ..store.workspace import Workspace
from . import apply, audit_upload, revocation
from .mutations import SCHEMA_VERSION, Pending, mutation
from .transport import Transport

T = TypeVar("T")
PUSH_BATCH = 500  # the server's limit per push
PULL_LIMIT = 1000
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
CONNECTED = "connected"
AWAITING = "awaiting_approval"
Announce = Callable[[frozenset[str]], None]


@dataclass
class SyncResult:
    """What one round did, for the status bar and `closeplan-admin sync`."""

    pushed: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    pulled: int = 0
    held: int = 0
    checkpoint: int = 0
    changed: frozenset[str] = frozenset()
    audit_rows: int | None = 0  # audit rows uploaded; None: none could be signed

    @property
    def conflicts(self) -> int:
        return self.verdicts.get("conflict", 0)

    @property
    def rejections(self) -> int:
        return self.verdicts.get("rejected", 0)


def with_retries(work: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep,
                 delays: tuple[float, ...] = RETRY_DELAYS) -> T:
    """`work()`, tried again after each transient failure (bounded), then raised."""
    for delay in (*delays, None):
        try:
            return work()
        except SyncError as exc:
            if not exc.transient or delay is None:
                raise
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def connection(ws: Workspace) -> SyncConnection | None:
    """The workspace's server connection, or None while it is standalone."""
    with db.read_session(ws.engine) as s:
        return s.get(SyncConnection, 1)


def require_connected(ws: Workspace) -> SyncConnection:
    """The connection of a workspace that may sync (SyncError otherwise)."""
    conn = connection(ws)
    if conn is None:
        raise SyncError("This workspace is not connected to a server: connect it first "
                        "(closeplan-admin connect URL --email EMAIL).")
    if copied(ws):
        raise SyncError(COPIED.format(url=conn.url))
    if conn.status != CONNECTED:
        raise SyncError("This device is waiting for an admin's approval; connect again to "
                        "finish once it is approved.")
    return conn


COPIED = ("This workspace was copied or restored here, so this computer is a new device for "
          "the server: enrol it again with 'closeplan-admin connect {url} --email EMAIL' "
          "(or Connect in the window), then an admin approves it.")


def copied(ws: Workspace) -> bool:
    """Whether this workspace copy is new to its device (key_vault's flag) and must enrol
    again before it syncs."""
    with db.read_session(ws.engine) as s:
        return key_vault.needs_enrolment(s)


def open_transport(ws: Workspace, conn: SyncConnection | None = None) -> Transport:
    """A transport to the workspace's server with the device's stored refresh token."""
    conn = conn or require_connected(ws)
    return Transport(conn.url, ws.keyring)


def keep_grant(s: Session, tenant_id: str) -> apply.GrantSink:
    """A sink that keeps each PHI key grant for this device in the caller's transaction
    (`key_vault.keep_device_grant`); `key_vault.open_device_grants` opens them with the
    device key of the signed-in user, at once or at the next sign-in."""

    def sink(version: int, wrapped: bytes) -> None:
        key_vault.keep_device_grant(s, tenant_id, version, wrapped)

    return sink


# -- push ----------------------------------------------------------------------------

_PENDING = ("SELECT id, entity, entity_id, op, payload, base_version, fields, mid FROM outbox "
            "WHERE acked_at IS NULL ORDER BY id LIMIT ?")


def _take_batch(ws: Workspace, limit: int) -> list[tuple[Pending, dict[str, Any] | None]]:
    """The next unacknowledged rows, each with its mutation; mids are given to rows that
    have none and committed before anything is sent."""
    with db.write_session(ws.engine) as s:
        raw = s.connection().connection.driver_connection
        assert raw is not None
        rows = [Pending(*r) for r in raw.execute(_PENDING, (limit,)).fetchall()]
        last = raw.execute("SELECT coalesce(max(mid), 0) FROM outbox").fetchone()[0]
        owner = raw.execute("SELECT user_id FROM sync_connection WHERE id = 1").fetchone()
        out: list[tuple[Pending, dict[str, Any] | None]] = []
        for row in rows:
            phi = None
            base = 0
            if row.entity == "deals":
                found = raw.execute("SELECT phi, phi_key_version, row_version FROM deals "
                                    "WHERE id = ?", (row.entity_id,)).fetchone()
                if found is not None:
                    phi, base = (found[0], found[1]), found[2] or 0
            elif row.entity in ("users", "deal_activities", "saved_views"):
                found = raw.execute(f"SELECT row_version FROM {row.entity} WHERE id = ?",  # noqa: S608
                                    (row.entity_id,)).fetchone()
                base = found[0] or 0 if found is not None else 0
            mid = row.mid
            item = mutation(row, mid or last + 1, phi, base)
            if row.entity == "saved_views" and (
                    owner is None or json.loads(row.payload).get("user_id") != owner[0]):
                # The device syncs as its connection's user: another user's view stays on
                # this laptop (the server would refuse it: views are per user).
                item = None
            if item is None:  # nothing the server takes: acknowledged here
                raw.execute("UPDATE outbox SET acked_at = ?, verdict = 'local' WHERE id = ?",
                            (iso(utcnow()), row.id))
                continue
            if mid is None:
                last += 1
                mid = last
                raw.execute("UPDATE outbox SET mid = ?, pushed_at = ? WHERE id = ?",
                            (mid, iso(utcnow()), row.id))
            out.append((Pending(row.id, row.entity, row.entity_id, row.op, row.payload,
                                row.base_version, row.fields, mid), item))
        return out


def push(ws: Workspace, transport: Transport, conn: SyncConnection, result: SyncResult,
         *, sleep: Callable[[float], None] = time.sleep, batch: int = PUSH_BATCH) -> None:
    """Push every unacknowledged outbox row, batch by batch, recording each verdict."""
    while True:
        taken = _take_batch(ws, batch)
        if not taken:
            return
        body = {"device_id": conn.device_id, "schema_version": SCHEMA_VERSION,
                "mutations": [item for _, item in taken]}
        try:
            answer = with_retries(functools.partial(transport.call, "POST", "/v1/sync/push",
                                                    json=body), sleep=sleep)
        except ServerRefused as exc:
            if exc.code == "mutation_gap":
                raise SyncError("The server and this device disagree on which changes were "
                                "sent (this workspace may have been restored from an older "
                                "copy). Nothing was lost; tell IT.") from None
            raise
        _record_verdicts(ws, transport, conn, taken, answer, result)


def _record_verdicts(ws: Workspace, transport: Transport, conn: SyncConnection,
                     taken: list[tuple[Pending, dict[str, Any] | None]],
                     answer: dict[str, Any], result: SyncResult) -> None:
    by_mid = {int(v["mid"]): v for v in answer.get("verdicts", [])}
    reverts: list[Pending] = []
    with db.write_session(ws.engine) as s:
        raw = s.connection().connection.driver_connection
        assert raw is not None
        for row, item in taken:
            assert row.mid is not None and item is not None
            verdict = by_mid.get(row.mid)
            if verdict is None:  # not answered: stays pending, sent again next round
                continue
            kind = str(verdict["verdict"])
            result.pushed += 1
            result.verdicts[kind] = result.verdicts.get(kind, 0) + 1
            # Answered, so never sent again: a user row's bcrypt hash (the server needs it
            # for a new or reset password) has no use left on the laptop.
            raw.execute("UPDATE outbox SET acked_at = ?, verdict = ?, payload = CASE WHEN "
                        "entity = 'users' THEN json_set(payload, '$.password', NULL) ELSE "
                        "payload END WHERE id = ?", (iso(utcnow()), kind, row.id))
            version = verdict.get("row_version")
            if row.entity == "deals":
                # The server wrote its own history of this change (or none, if it refused
                # it): that row comes by pull and replaces this device's.
                raw.execute("DELETE FROM deal_history WHERE outbox_id = ?", (row.id,))
            if kind in ("applied", "merged", "conflict") and version is not None \
                    and row.entity in ("deals", "users", "deal_activities", "saved_views"):
                raw.execute(f"UPDATE {row.entity} SET row_version = ? WHERE id = ? AND "  # noqa: S608
                            "row_version < ?", (version, row.entity_id, version))
            if kind == "rejected":
                apply.record_rejection(s.connection(), conn.device_id, row.mid, row.entity,
                                       row.entity_id, str(item["op"]),
                                       str(verdict.get("code") or "rejected"),
                                       str(verdict.get("message") or "Refused."))
                reverts.append(row)
        if reverts:
            _revert(raw, transport, reverts, conn.tenant_id)


def _server_users(transport: Transport, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The server's rows of the `wanted` users (the admin view: never a hash)."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = transport.call("GET", "/v1/admin/users", params=params)
        found.update({u["id"]: u for u in page["items"] if u["id"] in wanted})
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def _server_deal(transport: Transport, deal_id: str) -> dict[str, Any] | None:
    """The server's current row of a deal, as a pull sends it (None: not to be had)."""
    try:
        row: dict[str, Any] = transport.call("GET", f"/v1/sync/deals/{deal_id}")
    except SyncError:
        return None  # the rejection stays visible; the next pull that touches it fixes it
    return row


def _revert(raw: Any, transport: Transport, rows: list[Pending], tenant_id: str) -> None:
    """Put rejected rows back as the server has them: a user from the admin view, a
    deal from the server's row (unless another change of it still waits to be pushed:
    that change goes first, as in a pull); a deal, activity or user the server never created is
    removed from view."""
    users = {r.entity_id for r in rows if r.entity == "users"}
    server_users: dict[str, dict[str, Any]] = {}
    if users:
        try:
            server_users = _server_users(transport, users)
        except ServerRefused:
            # No longer an admin (the likely cause of the refusal): the rejection stays
            # visible and the server's rows come with the next pull that changes them.
            server_users = {}
    for row in rows:
        if row.entity == "users" and row.entity_id in server_users:
            u = server_users[row.entity_id]
            raw.execute("UPDATE users SET email = ?, first_name = ?, last_name = ?, role = ?, "
                        "deactivated_at = ? WHERE id = ?",
                        (u["email"], u["first_name"], u["last_name"], u["role"],
                         apply.time_text(u.get("deactivated_at")), row.entity_id))
        elif row.entity == "users" and row.op == "create":
            # Never on the server: it cannot sign in, and its email is free for the
            # server's user who holds it; the rejection keeps it visible.
            raw.execute("UPDATE users SET deactivated_at = coalesce(deactivated_at, ?), "
                        "email = id || ? WHERE id = ?",
                        (iso(utcnow()), apply.REJECTED_EMAIL, row.entity_id))
        elif row.entity in ("deals", "deal_activities", "saved_views") and row.op == "create":
            raw.execute(f"UPDATE {row.entity} SET deleted_at = coalesce(deleted_at, ?) "  # noqa: S608
                        "WHERE id = ?", (iso(utcnow()), row.entity_id))
        elif row.entity == "deals" and raw.execute(
                "SELECT 1 FROM outbox WHERE acked_at IS NULL AND entity = 'deals' AND "
                "entity_id = ?", (row.entity_id,)).fetchone() is None:
            server = _server_deal(transport, row.entity_id)
            if server is not None:
                raw.execute(apply.DEAL_UPSERT, apply.deal_params(server, tenant_id))


# -- pull ----------------------------------------------------------------------------


def apply_page(ws: Workspace, conn: SyncConnection, page: dict[str, Any],
               result: SyncResult, announce: Announce | None, *,
               keep_cursor: bool = True) -> bool:
    """Apply one pull page and move the cursor, in one local transaction; True when it
    held a row (a change of it waits to be pushed). The stored cursor then stays where
    it was (and, with `keep_cursor` False, stays for the rest of the pull): the push's
    verdict may leave the server's row as it is (delete beats the edit, a rejection, a
    replay), so the next pull must read that row again. `conn.pull_cursor` moves on, so
    this pull reads on."""
    with db.write_session(ws.engine) as s:
        done = apply.apply_changes(s.connection(), conn.tenant_id, page.get("changes", []),
                                   keep_grant(s, conn.tenant_id), conn.device_id,
                                   conn.user_id)
        key_vault.open_device_grants(s, ws)
        row = s.get(SyncConnection, 1)
        assert row is not None
        if keep_cursor and not done.held:
            row.pull_cursor = page["cursor"]
        row.checkpoint = int(page.get("checkpoint") or row.checkpoint)
        row.last_sync_at = utcnow()
    conn.pull_cursor, conn.checkpoint = page["cursor"], row.checkpoint
    result.pulled += done.rows
    result.held += done.held
    result.checkpoint = conn.checkpoint
    if done.kinds:
        result.changed = result.changed | done.kinds
        if announce is not None:
            announce(done.kinds)
    return done.held > 0


def _reset_cursor(ws: Workspace, conn: SyncConnection) -> None:
    with db.write_session(ws.engine) as s:
        row = s.get(SyncConnection, 1)
        assert row is not None
        row.pull_cursor = None
    conn.pull_cursor = None


def pull(ws: Workspace, transport: Transport, conn: SyncConnection, result: SyncResult,
         *, announce: Announce | None = None, sleep: Callable[[float], None] = time.sleep,
         limit: int = PULL_LIMIT, held: bool = False) -> bool:
    """Pull pages until the server says this device is up to date; True when a row was
    held (`held`: one already was, before this call), so the stored cursor stayed
    before it (`apply_page`)."""
    restarted = False
    while True:
        params: dict[str, Any] = {"limit": limit}
        if conn.pull_cursor:
            params["cursor"] = conn.pull_cursor
        try:
            page = with_retries(functools.partial(transport.call, "GET", "/v1/sync/pull",
                                                  params=params), sleep=sleep)
        except ServerRefused as exc:
            if exc.code != "scope_changed" or restarted:
                raise
            # The user's role changed, and with it what this device receives: read the
            # whole state again (rows are upserts, so what is here already is harmless).
            restarted = True
            _reset_cursor(ws, conn)
            continue
        held = apply_page(ws, conn, page, result, announce, keep_cursor=not held) or held
        _READ_AHEAD.pop(conn.device_id, None)
        if held:  # where this pull got to, for the long-poll (`wait_for_changes`)
            _READ_AHEAD[conn.device_id] = (_stored_cursor(ws), str(page["cursor"]))
        if page.get("up_to_date"):
            return held


# Per device, while the stored cursor waits before a held row: (that stored cursor, the
# cursor the last pull reached). The long-poll waits from the latter, not re-reading
# the held rows again and again until the next round pushes their change; a new
# process simply reads them once more.
_READ_AHEAD: dict[str, tuple[str | None, str]] = {}


def _stored_cursor(ws: Workspace) -> str | None:
    with db.read_session(ws.engine) as s:
        row = s.get(SyncConnection, 1)
        return None if row is None else row.pull_cursor


def sync_once(ws: Workspace, transport: Transport | None = None, *,
              announce: Announce | None = None,
              sleep: Callable[[float], None] = time.sleep) -> SyncResult:
    """Push the outbox, then pull to the checkpoint. Raises SyncError (and its kinds)
    when the server cannot be reached after retries or refuses; what was not
    acknowledged stays in the outbox."""
    conn = require_connected(ws)
    own = transport is None
    transport = transport or open_transport(ws, conn)
    result = SyncResult(checkpoint=conn.checkpoint)
    try:
        push(ws, transport, conn, result, sleep=sleep)
        pull(ws, transport, conn, result, announce=announce, sleep=sleep)
        uploaded = upload_audit(ws, transport, conn, sleep=sleep)
        result.audit_rows = None if uploaded is None else sum(uploaded.rows.values())
        lease.contact(ws.keyring)
    except DeviceRevoked as exc:
        # Checked against the pinned key before anything is wiped; always raises.
        revocation.on_unauthorized(ws, exc, receipts.key_of(conn) or b"",
                                   conn.tenant_id, user_id=conn.user_id)
    except SignedOut as exc:
        if exc.code == "user_deactivated":
            _deactivated_here(ws, conn, announce)
        raise
    finally:
        if own:
            transport.close()
    return result


def upload_audit(ws: Workspace, transport: Transport, conn: SyncConnection, *,
                 sleep: Callable[[float], None] = time.sleep
                 ) -> audit_upload.Uploaded | None:
    """Send this device's audit rows not yet on the server, signed with the device key
    the signed-in user unlocked (a process without the password cannot sign them); None
    when nobody is signed in: the rows wait for the next signed-in round. A transient
    failure is retried like push and pull: the batch in flight is sent again as it was,
    and the server answers a batch it already has with its stored receipt."""
    try:
        keys = key_vault.device_keys(ws)
    except KeyMissing:
        return None
    server_key = receipts.key_of(conn)
    if server_key is None:
        raise KeyMissing("The server's signing key is not pinned in this workspace: "
                         "connect to the server again.")

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = with_retries(
            functools.partial(transport.call, "POST", path, json=body), sleep=sleep)
        return answer
    return audit_upload.upload(ws, post, keys.signing, server_key, conn.tenant_id)


def _deactivated_here(ws: Workspace, conn: SyncConnection,
                      announce: Announce | None) -> None:
    """The server says this device's user was deactivated: so it is here too (no outbox
    row: it is the server's change), and the user cannot sign in offline any more."""
    with db.write_session(ws.engine) as s:
        s.connection().exec_driver_sql(
            "UPDATE users SET deactivated_at = ? WHERE id = ? AND deactivated_at IS NULL",
            (iso(utcnow()), conn.user_id))
    if announce is not None:
        announce(frozenset({"users"}))


def wait_for_changes(ws: Workspace, transport: Transport, timeout: float = 25.0, *,
                     announce: Announce | None = None) -> SyncResult:
    """One long-poll: wait up to `timeout` seconds (at most 30) for a change on the
    server and apply it. The caller's loop calls it again (and `sync_once` after local
    edits)."""
    conn = require_connected(ws)
    result = SyncResult(checkpoint=conn.checkpoint)
    wait = max(0.0, min(timeout, 30.0))
    stored = conn.pull_cursor
    ahead = _READ_AHEAD.get(conn.device_id)
    held = ahead is not None and ahead[0] == stored
    if ahead is not None and held:
        conn.pull_cursor = ahead[1]  # the stored cursor still waits before held rows
    params: dict[str, Any] = {"limit": PULL_LIMIT, "wait": wait}
    if conn.pull_cursor:
        params["cursor"] = conn.pull_cursor
    page = transport.call("GET", "/v1/sync/pull", params=params, timeout=wait + 15)
    held = apply_page(ws, conn, page, result, announce, keep_cursor=not held) or held
    _READ_AHEAD.pop(conn.device_id, None)
    if held:
        _READ_AHEAD[conn.device_id] = (stored, str(page["cursor"]))
    if not page.get("up_to_date"):
        pull(ws, transport, conn, result, announce=announce, held=held)
    return result


def pending_count(ws: Workspace) -> int:
    """How many local changes wait to be pushed."""
    with db.read_session(ws.engine) as s:
        raw = s.connection().connection.driver_connection
        assert raw is not None
        return int(raw.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL")
                   .fetchone()[0])
