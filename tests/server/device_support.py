"""Helpers of the device, grant and audit tests: users and callers of a tenant, devices
with real Ed25519/X25519 keys (enrolled and approved through the services), sessions,
and signed audit batches made as a desktop would make them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pg_support import Tenant

from closeplan_desktop.core.domain import audit_batch as ab
from closeplan_desktop.core.domain.clock import iso
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.audit.upload import BatchIn
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.devices import enrolment
from closeplan_desktop.server.devices.grants import GrantIn
from closeplan_desktop.server.keys import escrow, signing


@dataclass
class Device:
    """A laptop: its id, its keys, its user, and its chains' heads."""

    id: str
    user_id: str
    role: str
    sign: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    kem: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def sign_public(self) -> bytes:
        return self.sign.public_key().public_bytes_raw()

    @property
    def kem_public(self) -> bytes:
        return escrow.public_raw(self.kem)

    def caller(self, tenant_id: str) -> Caller:
        return Caller(tenant_id, self.user_id, self.role, new_id(), self.id)


def signing_key(tmp: Path) -> signing.SigningKey:
    return signing.write_key_file(tmp / f"signing-{new_id()}.key")


def add_user(db: Database, t: Tenant, role: str = "USER") -> str:
    """A user of `t` (made as the app role in its context)."""
    user_id = new_id()
    with db.transaction(t.id) as conn:
        conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, password, "
                     "role) VALUES (%s, %s, %s, 'Uma', 'User', %s, %s)",
                     (t.id, user_id, f"u-{user_id}@example.org", "$2a$10$" + "y" * 53, role))
    return user_id


def first_admin_device(db: Database, t: Tenant) -> Device:
    """The tenant's first admin device, ACTIVE from the start (what setup does; no other
    admin device could approve it)."""
    d = Device(new_id(), t.admin_id, "ADMIN")
    with db.transaction(t.id) as conn:
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status, "
                     "sign_public_key, kem_public_key, approved_at) VALUES (%s, %s, %s, "
                     "'admin laptop', 'ACTIVE', %s, %s, now())",
                     (t.id, d.id, d.user_id, d.sign_public, d.kem_public))
    return d


def enrol(db: Database, t: Tenant, user_id: str, role: str = "USER") -> tuple[Device, str]:
    """A new device of `user_id`, enrolled (PENDING); returns it and its code."""
    d = Device(new_id(), user_id, role)
    c = Caller(t.id, user_id, role, new_id(), None)
    with db.transaction(t.id, user_id) as conn:
        out = enrolment.enrol(conn, c, d.id, "laptop", d.sign_public, d.kem_public)
    return d, out["approval_code"]


def grant_for(t: Tenant, device: Device, version: int = 1,
              phi_key: bytes | None = None) -> GrantIn:
    """The tenant's PHI key wrapped for `device` (what the admin's device does)."""
    wrapped = escrow.wrap_key(device.kem_public, t.id, version, phi_key or t.phi_key)
    return GrantIn(version, "DEVICE", device.id, wrapped)


def approved(db: Database, t: Tenant, admin: Device, user_id: str,
             role: str = "USER") -> Device:
    """A device of `user_id`, enrolled and approved by `admin` with a grant of key 1."""
    d, code = enrol(db, t, user_id, role)
    with db.transaction(t.id, admin.user_id) as conn:
        outcome = enrolment.approve(conn, admin.caller(t.id), d.id, code, [grant_for(t, d)])
    outcome.result()
    return d


def add_session(db: Database, t: Tenant, d: Device, kind: str = "ACCESS") -> str:
    session_id = new_id()
    with db.transaction(t.id) as conn:
        conn.execute("INSERT INTO sessions (tenant_id, id, user_id, device_id, kind, token_hash, "
                     "expires_at) VALUES (%s, %s, %s, %s, %s, %s, now() + interval '1 hour')",
                     (t.id, session_id, d.user_id, d.id, kind,
                      hashlib.sha256(session_id.encode()).digest()))
    return session_id


def access_rows(t: Tenant, d: Device, count: int, *, deal_id: str | None = None,
                start: datetime | None = None) -> list[dict[str, Any]]:
    """The next `count` access log rows of `d`'s chain (seq and chain hash advanced)."""
    seq, prev = d.heads.get("access_logs", (0, "0" * 64))
    when = start or datetime.now(UTC) - timedelta(minutes=5)
    rows = []
    for i in range(count):
        seq += 1
        prev = hashlib.sha256(f"{prev}|{seq}".encode()).hexdigest()
        rows.append({"id": new_id(), "user_id": d.user_id, "deal_id": deal_id or new_id(),
                     "action": "PHI_ACCESS", "access_type": "READ", "resource_type": "deal",
                     "success": True, "timestamp": iso(when + timedelta(seconds=i)),
                     "tenant_id": t.id, "device_id": d.id, "seq": seq, "reason": None,
                     "chain_hash": prev})
    d.heads["access_logs"] = (seq, prev)
    return rows


def event_rows(t: Tenant, d: Device, count: int) -> list[dict[str, Any]]:
    seq, prev = d.heads.get("security_events", (0, "0" * 64))
    rows = []
    for _ in range(count):
        seq += 1
        prev = hashlib.sha256(f"{prev}|e{seq}".encode()).hexdigest()
        rows.append({"id": new_id(), "tenant_id": t.id, "user_id": d.user_id,
                     "type": "LOGIN_SUCCESS", "detail": "{}",
                     "timestamp": iso(datetime.now(UTC) - timedelta(minutes=1)),
                     "device_id": d.id, "seq": seq, "chain_hash": prev})
    d.heads["security_events"] = (seq, prev)
    return rows


def batch(t: Tenant, d: Device, table: str, rows: list[dict[str, Any]], *,
          signer: Ed25519PrivateKey | None = None, device_id: str | None = None) -> BatchIn:
    """A batch of `rows` signed as the desktop signs it (by `signer`, else the device)."""
    dev = device_id or d.id
    first, last = rows[0]["seq"], rows[-1]["seq"]
    message = ab.batch_message(t.id, dev, table, first, last, rows[-1]["chain_hash"],
                               ab.rows_digest(table, rows))
    return BatchIn(dev, table, first, last, rows[-1]["chain_hash"],
                   (signer or d.sign).sign(message), rows)
