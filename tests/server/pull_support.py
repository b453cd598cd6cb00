"""Helpers of the pull and bootstrap tests: callers with devices, the rows a device may or
may not get (users, devices, grants, conflicts, rejections), and a client that pulls to
the end and keeps the newest version of each row, as the desktop will."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pg_support import Conn, ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync import pull

HASH = "$2b$12$" + "h" * 53  # a bcrypt-shaped password hash that must never be pulled


def in_tenant(db: ServerDb, t: Tenant) -> Conn:
    """An app-role connection with `t`'s context set for its first transaction."""
    conn = db.app()
    conn.execute("SELECT set_tenant_context(%s)", (t.id,))
    return conn


def add_user(db: ServerDb, t: Tenant, role: str = "USER") -> str:
    user_id = new_id()
    with in_tenant(db, t) as conn:
        conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, password, "
                     "role) VALUES (current_tenant_id(), %s, %s, 'Uma', 'User', %s, %s)",
                     (user_id, f"u-{user_id}@example.com", HASH, role))
    return user_id


def add_grant(db: ServerDb, t: Tenant, kind: str, grantee: str) -> str:
    grant_id = new_id()
    with in_tenant(db, t) as conn:
        conn.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                     "grantee_id, wrapped) VALUES (current_tenant_id(), %s, 1, %s, %s, %s)",
                     (grant_id, kind, grantee, bytes(range(80))))
    return grant_id


def add_conflict(db: ServerDb, t: Tenant, device_id: str, deal_id: str) -> str:
    conflict_id = new_id()
    with in_tenant(db, t) as conn:
        conn.execute("INSERT INTO conflicts (tenant_id, id, table_name, row_id, field, "
                     "base_version, server_version, kept_value, losing_value, device_id, "
                     "mutation_id) VALUES (current_tenant_id(), %s, 'deals', %s, 'title', 1, 2, "
                     "'\"kept\"', '\"lost\"', %s, 1)", (conflict_id, deal_id, device_id))
    return conflict_id


def add_rejection(db: ServerDb, t: Tenant, device_id: str, mutation_id: int = 1) -> str:
    rejection_id = new_id()
    with in_tenant(db, t) as conn:
        conn.execute("INSERT INTO rejections (tenant_id, id, device_id, mutation_id, table_name, "
                     "op, code, message) VALUES (current_tenant_id(), %s, %s, %s, 'users', "
                     "'update', 'last_admin', 'Keep one admin.')",
                     (rejection_id, device_id, mutation_id))
    return rejection_id


def caller(t: Tenant, user_id: str, device_id: str | None, role: str = "USER") -> Caller:
    return Caller(t.id, user_id, role, new_id(), device_id)


def admin_caller(db: ServerDb, t: Tenant) -> Caller:
    """`t`'s admin on a device of theirs."""
    return caller(t, t.admin_id, db.device(t, t.admin_id), "ADMIN")


def key_of(change: dict[str, Any]) -> tuple[str, str]:
    row = change["row"]
    return change["table"], str(row["version"] if change["table"] == "phi_keys" else row["id"])


@dataclass
class Client:
    """What a device holds: per (table, id) the newest row it received."""

    db: Database
    who: Caller
    cursor: str | None = None
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, change: dict[str, Any]) -> None:
        self.received.append(change)
        key = key_of(change)
        held = self.rows.get(key)
        if held is None or held["row_version"] <= change["row"]["row_version"]:
            self.rows[key] = change["row"]

    def page(self, limit: int = pull.DEFAULT_LIMIT) -> pull.PullPage:
        """One pull, applied."""
        with pull.snapshot(self.db, self.who) as conn:
            page = pull.pull(conn, self.who, self.cursor, limit)
        for change in json.loads(page.to_json())["changes"]:
            self.apply(change)
        self.cursor = page.cursor
        return page

    def sync(self, limit: int = pull.DEFAULT_LIMIT) -> list[pull.PullPage]:
        """Pull until up to date."""
        pages = [self.page(limit)]
        while not pages[-1].up_to_date:
            pages.append(self.page(limit))
        return pages

    def hash(self) -> str:
        return pull.combine([pull.row_hash(t, k, r["row_version"])
                             for (t, k), r in self.rows.items()])

    def ids(self, table: str) -> set[str]:
        return {k for (t, k) in self.rows if t == table}


def committed(db: ServerDb, t: Tenant, table: str = "deals") -> dict[str, int]:
    """What the database holds (behind RLS's back): id -> row_version."""
    with db.superuser() as conn:
        rows = conn.execute(f"SELECT id, row_version FROM {table} WHERE tenant_id = %s",
                            (t.id,)).fetchall()
    return {r[0]: int(r[1]) for r in rows}
