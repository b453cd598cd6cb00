"""A real desktop workspace linked to the real test server, for the desktop's sync code
(audit upload, revocation): the local tenant and users mirrored on the server with the
same ids, this laptop's device ACTIVE there with a real Ed25519 key, the server's
signing key pinned in its connection row, and a device-bound access token."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api_support import Api, poster
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pg_support import fake_or_real_hash

from closeplan_desktop.core.store import db, receipts, workspace
from closeplan_desktop.core.store.models import SyncConnection
from closeplan_desktop.core.store.workspace import Workspace
from closeplan_desktop.core.usecases import auth, users
from closeplan_desktop.core.usecases.frame import AuthSession
from closeplan_desktop.server.keys import escrow

ADMIN_PASSWORD = "correct horse battery"
USER_PASSWORD = "another long password"

Post = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Linked:
    ws: Workspace
    path: Path
    tenant_id: str
    admin: AuthSession
    user: AuthSession
    admin_email: str
    user_email: str
    device_key: Ed25519PrivateKey
    server_key: bytes
    token: str
    post: Post


def linked(path: Path, api: Api) -> Linked:
    """A new workspace at `path`, its tenant and users mirrored on `api`'s server, its
    device (the admin's) ACTIVE there, the server key pinned, the admin signed in on it."""
    domain = f"acme{secrets.token_hex(4)}.example"
    admin_email, user_email = f"ada@{domain}", f"bob@{domain}"
    ws = workspace.create(path)
    tenant_id, _ = users.create_tenant(ws, "Acme Health", domain, admin_email, "Ada",
                                       "Admin", ADMIN_PASSWORD)
    admin = auth.sign_in(ws, admin_email, ADMIN_PASSWORD)
    users.add_user(admin, user_email, "Bob", "Sales", "USER", USER_PASSWORD)
    user = auth.sign_in(ws, user_email, USER_PASSWORD)
    device_key = Ed25519PrivateKey.generate()
    kem = escrow.public_raw(X25519PrivateKey.generate())
    with api.db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
        conn.execute("INSERT INTO tenants (id, name, domain) VALUES (%s, 'Acme Health', %s)",
                     (tenant_id, domain))
        for who, email, password in ((admin, admin_email, ADMIN_PASSWORD),
                                     (user, user_email, USER_PASSWORD)):
            conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                         "password, role) VALUES (%s, %s, %s, 'A', 'B', %s, %s)",
                         (tenant_id, who.user_id, email, fake_or_real_hash(password),
                          str(who.role.value if hasattr(who.role, "value") else who.role)))
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status, "
                     "sign_public_key, kem_public_key, approved_at) VALUES (%s, %s, %s, "
                     "'laptop', 'ACTIVE', %s, %s, now())",
                     (tenant_id, ws.device_id, admin.user_id,
                      device_key.public_key().public_bytes_raw(), kem))
    keys = api.http.get("/v1/server/keys").json()["keys"]
    server_key = base64.b64decode(keys[0]["public_key"])
    with db.write_session(ws.engine) as s:  # connected, as `core.sync.connect` leaves it
        s.add(SyncConnection(id=1, url=api.live.url, tenant_id=tenant_id,
                             user_id=admin.user_id, device_id=ws.device_id,
                             server_key_id=keys[0]["key_id"], status="connected"))
        s.flush()
        receipts.pin_server_key(s, server_key)
    token = api.sign_in(admin_email, ADMIN_PASSWORD, ws.device_id)["access_token"]
    return Linked(ws, path, tenant_id, admin, user, admin_email, user_email, device_key,
                  server_key, token, poster(api, token))


def server_rows(api: Api, link: Linked, table: str) -> list[tuple[int, str]]:
    """(seq, chain hash) of this laptop's rows of `table` on the server, in seq order."""
    with api.db.superuser() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(
            f"SELECT seq, chain_hash FROM {table} WHERE tenant_id = %s AND "
            "device_id = %s ORDER BY seq", (link.tenant_id, link.ws.device_id))]


def local_rows(link: Linked, table: str) -> list[tuple[int, str]]:
    from sqlalchemy import text

    from closeplan_desktop.core.store import db
    with db.read_session(link.ws.engine) as s:
        return [(int(r[0]), str(r[1])) for r in s.execute(text(
            f"SELECT seq, chain_hash FROM {table} WHERE device_id = :d "
            "ORDER BY seq"), {"d": link.ws.device_id})]
