"""Helpers of the server's tests: connections as each role, and tenants with users,
deals and PHI made through the app role (so the rows pass row-level security)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import bcrypt
import psycopg
from psycopg.rows import TupleRow

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.db import admin
from closeplan_desktop.server.db.cluster import Cluster
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.keys import escrow

Conn = psycopg.Connection[TupleRow]


@dataclass
class Pg:
    """The session's cluster and the server's escrow key (public half)."""

    cluster: Cluster
    key_file: Path
    escrow_public: bytes


@dataclass
class Tenant:
    id: str
    admin_id: str
    admin_email: str
    phi_key: bytes
    key_version: int = 1
    deals: list[str] = field(default_factory=list)


def seed_sql(query: str) -> str:
    """A query of seed-schema.md as written, its `$name` parameters in psycopg's form."""
    return re.sub(r"\$(\w+)", r"%(\1)s", query)


def fake_or_real_hash(password: str | None) -> str:
    """A bcrypt hash of `password` at cost 4 (fast tests), or a well-formed hash no
    password matches."""
    if password is None:
        return "$2a$10$" + "x" * 53
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


class ServerDb:
    """One test module's database."""

    def __init__(self, pg: Pg, name: str) -> None:
        self.pg = pg
        self.name = name
        self._pools: list[Database] = []

    def superuser(self) -> Conn:
        """A superuser connection (bypasses RLS: for checks behind the app's back)."""
        return psycopg.connect(self.pg.cluster.dsn(self.name), autocommit=True)

    @property
    def app_dsn(self) -> str:
        return self.pg.cluster.dsn(self.name, user=admin.APP_ROLE)

    def app(self) -> Conn:
        """A connection as the API's role (not autocommit: one transaction until commit)."""
        return psycopg.connect(self.app_dsn)

    def pool(self, **kwargs: int) -> Database:
        db = Database(self.app_dsn, **kwargs)
        self._pools.append(db)
        return db

    def close(self) -> None:
        for db in self._pools:
            db.close()

    def tenant(self, name: str, *, escrow_key: bool = True,
               password: str | None = None) -> Tenant:
        """A tenant with its admin, PHI key version 1, and (by default) that key granted
        to the server's escrow key; made as the app role inside the tenant's context.
        With `password`, the admin can sign in with it (a real bcrypt hash, cost 4)."""
        tenant_id, admin_id = new_id(), new_id()
        email = f"admin-{tenant_id}@{name.lower()}.example"
        t = Tenant(tenant_id, admin_id, email, crypto.new_key())
        with self.app() as conn:
            conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
            conn.execute("INSERT INTO tenants (id, name, domain) VALUES (%s, %s, %s)",
                         (tenant_id, name, f"{name.lower()}.example"))
            conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                         "password, role) VALUES (current_tenant_id(), %s, %s, 'Ada', "
                         "'Admin', %s, 'ADMIN')",
                         (admin_id, email, fake_or_real_hash(password)))
            conn.execute("INSERT INTO phi_keys (tenant_id, version, state) "
                         "VALUES (current_tenant_id(), 1, 'ACTIVE')")
            if escrow_key:
                self.grant_escrow(conn, t)
        return t

    def grant_escrow(self, conn: Conn, t: Tenant) -> None:
        """The tenant grants the server its PHI key (in `conn`'s tenant context)."""
        wrapped = escrow.wrap_key(self.pg.escrow_public, t.id, t.key_version, t.phi_key)
        conn.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                     "grantee_id, wrapped) VALUES (current_tenant_id(), %s, %s, 'SERVER', "
                     "%s, %s)", (new_id(), t.key_version, escrow.key_id(self.pg.escrow_public),
                                 wrapped))

    def deal(self, t: Tenant, phi: dict[str, str] | None = None, *,
             title: str = "Cardiology suite", value: str = "1234.56") -> str:
        """A deal of `t` made by its admin, its PHI sealed by the desktop's own code."""
        deal_id = new_id()
        envelope = None if phi is None else crypto.encrypt_phi(t.phi_key, t.key_version,
                                                                t.id, deal_id, phi)
        with self.app() as conn:
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))
            conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, phi, "
                         "phi_key_version, created_by_id) VALUES (current_tenant_id(), %s, "
                         "%s, 'ACTIVE', %s, %s, %s, %s)",
                         (deal_id, title, Decimal(value), envelope,
                          None if phi is None else t.key_version, t.admin_id))
        t.deals.append(deal_id)
        return deal_id

    def user(self, t: Tenant, *, role: str = "USER", password: str | None = None,
             email: str | None = None) -> tuple[str, str]:
        """A user of `t` (id, email), able to sign in with `password` when given."""
        user_id = new_id()
        email = email or f"user-{user_id}@{t.id}.example"
        with self.app() as conn:
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))
            conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                         "password, role) VALUES (current_tenant_id(), %s, %s, 'Sam', 'Sales',"
                         " %s, %s)", (user_id, email, fake_or_real_hash(password), role))
        return user_id, email

    def device(self, t: Tenant, user_id: str, status: str = "ACTIVE") -> str:
        """A device of `user_id` in `status` (made directly; enrolment is tested apart)."""
        device_id = new_id()
        with self.app() as conn:
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))
            conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status) "
                         "VALUES (current_tenant_id(), %s, %s, 'Laptop', %s)",
                         (device_id, user_id, status))
        return device_id
