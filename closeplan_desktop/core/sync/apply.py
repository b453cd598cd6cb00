"""Rows from the server written into the local mirror: one page of a pull or a block of
the bootstrap, in the caller's transaction, by prepared statements.

Rows applied here are the server's: they write no audit row and no outbox row (no
echo). A user row never carries a password hash: a user new to this laptop gets one no
password matches (`NO_PASSWORD`; their key slot here is made at their first online
sign-in, `core.sync.signin`), and a known user keeps what verifies them here. A row
with a change of this device still waiting to be pushed is left as it is: push goes
first, and the server's answer to that change comes back in a later pull.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from ..domain.clock import as_utc, iso, utcnow
from ..domain.errors import SyncError
from ..domain.ids import new_id
from ..store.changes import kinds_of

# Not a bcrypt hash: `passwords.check_password` answers False for it.
NO_PASSWORD = "!synced-without-password"  # noqa: S105  (a marker, not a secret)

# The email a local user gets while the one it had belongs to another (its id before it):
# a user the server refused, or two users who swapped emails (fixed by a later row).
REJECTED_EMAIL = "@refused.invalid"
PENDING_EMAIL = "@pending.invalid"
_FREE_EMAIL = "UPDATE users SET email = id || ? WHERE email = ? AND id <> ?"

# A key grant for this device: (key version, wrapped key); the engine opens and keeps it.
GrantSink = Callable[[int, bytes], None]


# PostgreSQL's JSON of a UTC timestamptz; its fraction drops trailing zeros.
_UTC = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00:00")


def time_text(value: Any) -> str | None:
    """A server time (ISO 8601 with an offset) as the mirror stores it."""
    if value is None:
        return None
    fast = _UTC.fullmatch(value) if isinstance(value, str) else None
    if fast is not None:  # the common case, without building a datetime
        return f"{fast.group(1)}.{(fast.group(2) or '').ljust(6, '0')}Z"
    try:
        return iso(as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00"))))
    except ValueError:
        raise SyncError("The server sent a time this app cannot read; update the app.") \
            from None


def _cents(value: Any) -> int:
    try:
        return int((Decimal(str(value)) * 100).to_integral_exact())
    except ArithmeticError:
        raise SyncError("The server sent an amount this app cannot read; update the app.") \
            from None


def _envelope(value: Any) -> str | None:
    """A PHI envelope as the mirror stores it (text; the server may send an object)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json(value: Any) -> str | None:
    """A JSON value (a conflict's values, a rejection's fields) as text."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_TENANT = ("INSERT INTO tenants (id, name, domain, created_at, updated_at, row_version) "
           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
           "domain = excluded.domain, updated_at = excluded.updated_at, "
           "row_version = excluded.row_version")
_USER = ("INSERT INTO users (id, email, first_name, last_name, password, tenant_id, role, "
         "created_at, updated_at, deactivated_at, row_version) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
         "email = excluded.email, first_name = excluded.first_name, "
         "last_name = excluded.last_name, role = excluded.role, "
         "updated_at = excluded.updated_at, deactivated_at = excluded.deactivated_at, "
         "row_version = excluded.row_version")
_PHI_KEY = ("INSERT INTO phi_keys (tenant_id, version, state, created_at, retired_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, version) DO UPDATE SET "
            "state = excluded.state, retired_at = excluded.retired_at")
_DEAL = ("INSERT INTO deals (id, title, status, value, phi, tenant_id, created_by_id, "
         "created_at, updated_at, deleted_at, phi_key_version, row_version, owner_id, "
         "expected_close_date, probability) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (id) DO UPDATE SET title = excluded.title, status = excluded.status, "
         "value = excluded.value, phi = excluded.phi, created_by_id = excluded.created_by_id,"
         " updated_at = excluded.updated_at, deleted_at = excluded.deleted_at, "
         "phi_key_version = excluded.phi_key_version, row_version = excluded.row_version, "
         "owner_id = excluded.owner_id, expected_close_date = excluded.expected_close_date, "
         "probability = excluded.probability")
DEAL_UPSERT = _DEAL  # a deal's row as the server has it (`deal_params`)
_CONFLICT = ("INSERT INTO sync_conflicts (id, table_name, row_id, field, base_version, "
             "server_version, kept_value, losing_value, device_id, mutation_id, created_at, "
             "resolved_at, row_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "ON CONFLICT (id) DO UPDATE SET resolved_at = excluded.resolved_at, "
             "row_version = excluded.row_version")
_REJECTION = ("INSERT INTO sync_rejections (id, device_id, mutation_id, table_name, row_id, "
              "op, code, message, fields, created_at, acknowledged_at, row_version) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
              "acknowledged_at = excluded.acknowledged_at, row_version = excluded.row_version")
_ACTIVITY = ("INSERT INTO deal_activities (id, tenant_id, deal_id, kind, body, due_at, done_at, "
             "created_by_id, created_at, updated_at, deleted_at, row_version) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
             "kind = excluded.kind, body = excluded.body, due_at = excluded.due_at, "
             "done_at = excluded.done_at, updated_at = excluded.updated_at, "
             "deleted_at = excluded.deleted_at, row_version = excluded.row_version")
# History is append-only: a row already here stays (the same row, sent again).
_HISTORY = ("INSERT INTO deal_history (id, tenant_id, deal_id, op, changes, user_id, "
            "created_at, access_log_id, outbox_id, row_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?) ON CONFLICT (id) DO NOTHING")
# A user's saved view (issue 15): the server sends a device only its user's own.
_VIEW = ("INSERT INTO saved_views (id, tenant_id, user_id, name, query, is_default, "
         "created_at, updated_at, deleted_at, row_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (id) DO UPDATE SET name = excluded.name, query = excluded.query, "
         "is_default = excluded.is_default, updated_at = excluded.updated_at, "
         "deleted_at = excluded.deleted_at, row_version = excluded.row_version")
_PENDING = "SELECT DISTINCT entity_id FROM outbox WHERE acked_at IS NULL AND entity = ?"
# Tables whose pulled rows wait while a local change of the row is still to be pushed.
HELD_TABLES = ("users", "deals", "deal_activities", "saved_views")


def deal_params(row: Mapping[str, Any], tenant_id: str) -> tuple[Any, ...]:
    """The parameters of `_DEAL` for one pulled deal. A server before issue 15 sends no
    owner: the creator owns the deal then, as the upgrade made it."""
    close = row.get("expected_close_date")
    return (row["id"], row["title"], row["status"], _cents(row["value"]),
            _envelope(row.get("phi")), tenant_id, row["created_by_id"],
            time_text(row["created_at"]), time_text(row["updated_at"]),
            time_text(row.get("deleted_at")),
            row.get("phi_key_version"), row["row_version"],
            row.get("owner_id") or row["created_by_id"],
            None if close is None else str(close)[:10], row.get("probability"))


@dataclass
class Applied:
    """What one page changed: rows per table, and rows left for a pending local change."""

    counts: dict[str, int] = field(default_factory=dict)
    held: int = 0

    def add(self, table: str, n: int = 1) -> None:
        self.counts[table] = self.counts.get(table, 0) + n

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of data that changed, as the window's announcement names them."""
        return kinds_of(t for t, n in self.counts.items() if n)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def apply_changes(conn: Connection, tenant_id: str, changes: Iterable[Mapping[str, Any]],
                  grants: GrantSink, device_id: str, user_id: str) -> Applied:
    """Write pulled changes (`{"table", "row"}`) in the caller's transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    pending: dict[str, set[str]] = {}

    def held(table: str, row_id: str) -> bool:
        if table not in pending:
            pending[table] = {r[0] for r in cur.execute(_PENDING, (table,)).fetchall()}
        return row_id in pending[table]

    out = Applied()
    # Deals and history rows are written together: one executemany per run of them (a
    # bootstrap sends a million of each in a row).
    run: list[tuple[Any, ...]] = []
    run_table = ""

    def write_run() -> None:
        nonlocal run
        if run:
            cur.executemany(_DEAL if run_table == "deals" else _HISTORY, run)
            out.add(run_table, len(run))
            run = []

    for change in changes:
        table, row = change["table"], change["row"]
        if table in HELD_TABLES and held(table, row["id"]):
            out.held += 1
            continue
        if table != run_table:
            write_run()
            run_table = table
        if table == "deals":
            run.append(deal_params(row, tenant_id))
            continue
        if table == "deal_history":
            run.append((row["id"], tenant_id, row["deal_id"], row["op"], _json(row["changes"]),
                        row.get("user_id"), time_text(row["created_at"]), row["row_version"]))
            continue
        if table == "tenants":
            if row["id"] != tenant_id:
                raise SyncError("The server sent another organisation's data; nothing was "
                                "applied. Tell IT.")
            cur.execute(_TENANT, (row["id"], row["name"], row.get("domain"),
                                  time_text(row["created_at"]), time_text(row["updated_at"]),
                                  row["row_version"]))
        elif table == "users":
            cur.execute(_FREE_EMAIL, (PENDING_EMAIL, row["email"], row["id"]))
            cur.execute(_USER, (row["id"], row["email"], row["first_name"], row["last_name"],
                                NO_PASSWORD, tenant_id, row["role"], time_text(row["created_at"]),
                                time_text(row["updated_at"]), time_text(row.get("deactivated_at")),
                                row["row_version"]))
        elif table == "phi_keys":
            cur.execute(_PHI_KEY, (tenant_id, row["version"], row["state"],
                                   time_text(row["created_at"]), time_text(row.get("retired_at"))))
        elif table == "key_grants":
            if row.get("revoked_at") is None and (
                    (row["grantee_kind"] == "DEVICE" and row["grantee_id"] == device_id)
                    or (row["grantee_kind"] == "USER" and row["grantee_id"] == user_id)):
                grants(int(row["key_version"]), base64.b64decode(row["wrapped"]))
        elif table == "conflicts":
            cur.execute(_CONFLICT, (
                row["id"], row["table_name"], row["row_id"], row["field"],
                row.get("base_version"), row["server_version"], _json(row.get("kept_value")),
                _json(row.get("losing_value")), row.get("device_id"), row.get("mutation_id"),
                time_text(row["created_at"]), time_text(row.get("resolved_at")),
                row["row_version"]))
        elif table == "rejections":
            # The server's record replaces the one push's verdict left here.
            cur.execute("DELETE FROM sync_rejections WHERE device_id = ? AND mutation_id = ? "
                        "AND id <> ?", (row.get("device_id"), row["mutation_id"], row["id"]))
            cur.execute(_REJECTION, (
                row["id"], row.get("device_id"), row["mutation_id"], row["table_name"],
                row.get("row_id"), row["op"], row["code"], row["message"],
                _json(row.get("fields")), time_text(row["created_at"]),
                time_text(row.get("acknowledged_at")), row["row_version"]))
        elif table == "deal_activities":
            cur.execute(_ACTIVITY, (
                row["id"], tenant_id, row["deal_id"], row["kind"], row["body"],
                time_text(row.get("due_at")), time_text(row.get("done_at")),
                row["created_by_id"], time_text(row["created_at"]),
                time_text(row["updated_at"]), time_text(row.get("deleted_at")),
                row["row_version"]))
        elif table == "saved_views":
            cur.execute(_VIEW, (
                row["id"], tenant_id, row["user_id"], row["name"], row["query"],
                1 if row["is_default"] else 0, time_text(row["created_at"]),
                time_text(row["updated_at"]), time_text(row.get("deleted_at")),
                row["row_version"]))
        else:  # devices (an admin's view) and tables of later versions: not mirrored
            continue
        out.add(table)
    write_run()
    return out


def record_rejection(conn: Connection, device_id: str, mid: int, table: str, row_id: str,
                     op: str, code: str, message: str) -> None:
    """A push verdict `rejected`, kept until the server's own row arrives by pull (the
    same id space is not shared: the local row is keyed by device and mid)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    exists = raw.execute("SELECT 1 FROM sync_rejections WHERE device_id = ? AND "
                         "mutation_id = ?", (device_id, mid)).fetchone()
    if exists is None:
        raw.execute(_REJECTION, (new_id(), device_id, mid, table, row_id, op, code, message,
                                 None, iso(utcnow()), None, 0))
