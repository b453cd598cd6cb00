"""Laptops for the sync client's end-to-end tests: each a real workspace (SQLCipher) in
its own folder with its own keyring entries, connected to the real API on 127.0.0.1
over a real PostgreSQL, through `core.sync` exactly as the app and the CLI use it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api_support import Api
from pg_support import ServerDb

from closeplan_desktop.core.store import db
from closeplan_desktop.core.store.workspace import Workspace
from closeplan_desktop.core.sync import connect, devices, engine
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import auth
from closeplan_desktop.core.usecases.frame import AuthSession
from closeplan_desktop.server import tenants

PASSWORD = "Tangerine-Orbit-Ladder-42"


@dataclass
class Laptop:
    ws: Workspace
    transport: Transport
    email: str
    password: str
    code: str | None = None
    announced: list[frozenset[str]] = field(default_factory=list)

    def session(self) -> AuthSession:
        """The laptop's user signed in offline, with the key slot made at connect."""
        return auth.sign_in(self.ws, self.email, self.password)

    def sync(self) -> engine.SyncResult:
        return engine.sync_once(self.ws, self.transport, announce=self.announced.append,
                                sleep=lambda _: None)

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with db.read_session(self.ws.engine) as s:
            return [tuple(r) for r in s.connection().exec_driver_sql(query, params).fetchall()]

    def close(self) -> None:
        self.transport.close()
        self.ws.close()


def new_tenant(server_db: ServerDb, name: str, email: str) -> tenants.NewTenant:
    """A tenant and its first admin on the server, as `closeplan-server create-tenant`
    makes them (no PHI key yet: the admin's first device makes version 1)."""
    pool = server_db.pool(max_size=2)
    return tenants.create_tenant(pool, name, f"{name.lower().replace(' ', '-')}.example",
                                 email, "Ada", "Admin", PASSWORD)


def connect_laptop(api: Api, path: Path, email: str, password: str = PASSWORD,
                   approver: Laptop | None = None,
                   on_first_screen: Callable[[], None] | None = None) -> Laptop:
    """Connect a new laptop at `path`: enrol; `approver` (an admin's laptop) approves it
    with the code it shows unless it is the tenant's first device; then bootstrap."""
    ws, transport, enrolment = connect.start(path, api.live.url, email, password,
                                             name=path.name)
    laptop = Laptop(ws, transport, email, password, enrolment.approval_code)
    if not enrolment.first_device:
        assert approver is not None, "a second device needs an admin's approval"
        assert not connect.wait_for_approval(transport, ws.device_id, timeout=0,
                                             sleep=lambda _: None)
        approver.session()  # the approval wraps the PHI keys a signed-in user holds
        devices.approve(approver.ws, approver.transport, str(enrolment.approval_code),
                        ws.device_id)
        assert connect.wait_for_approval(transport, ws.device_id, timeout=5)
    connect.finish(ws, transport, on_first_screen=on_first_screen)
    return laptop


def server_rows(server_db: ServerDb, tenant_id: str, query: str,
                params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of the server's database (as a superuser, behind the API's back)."""
    with server_db.superuser() as conn:
        return [tuple(r) for r in conn.execute(query, (tenant_id, *params)).fetchall()]


DEALS = ("SELECT id, title, status, value, phi, deleted_at IS NOT NULL FROM deals "
         "ORDER BY id")
SERVER_DEALS = ("SELECT id, title, status::text, (value * 100)::bigint, phi::text, "
                "deleted_at IS NOT NULL FROM deals WHERE tenant_id = %s ORDER BY id")
USERS = "SELECT id, email, role, deactivated_at IS NOT NULL FROM users ORDER BY id"
SERVER_USERS = ("SELECT id, email, role::text, deactivated_at IS NOT NULL FROM users "
                "WHERE tenant_id = %s ORDER BY id")


def same_everywhere(server_db: ServerDb, tenant_id: str, *laptops: Laptop) -> None:
    """Every laptop holds the server's deals and users, field for field (PHI: the same
    envelope)."""
    server = [(i, t, s, v, None if p is None else json.loads(p), d)
              for i, t, s, v, p, d in server_rows(server_db, tenant_id, SERVER_DEALS)]
    server_users = [(i, e, r, bool(d)) for i, e, r, d in
                    server_rows(server_db, tenant_id, SERVER_USERS)]
    for laptop in laptops:
        mine = [(i, t, s, v, None if p is None else json.loads(str(p)), bool(d))
                for i, t, s, v, p, d in laptop.rows(DEALS)]
        assert mine == server
        assert [(i, e, r, bool(d)) for i, e, r, d in laptop.rows(USERS)] == server_users
