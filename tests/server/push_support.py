"""Helpers of the push tests: users and devices of a tenant, and a device that pushes
through the service (`run_push`, the function the HTTP route calls)."""

from __future__ import annotations

from typing import Any

from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync.mutations import SCHEMA_VERSION, parse_request
from closeplan_desktop.server.sync.outcome import PushResult
from closeplan_desktop.server.sync.push import run_push

HASH = "$2b$10$" + "a" * 53


class Device:
    """A device of a user that numbers its mutations 1, 2, 3... and pushes them."""

    def __init__(self, db: Database, server_db: ServerDb, t: Tenant, user_id: str,
                 role: str, device_id: str | None = None) -> None:
        self.db = db
        self.tenant = t
        self.id = device_id or server_db.device(t, user_id)
        self.caller = Caller(t.id, user_id, role, new_id(), self.id)
        self.next_mid = 1

    def body(self, *mutations: dict[str, Any], first_mid: int | None = None) -> dict[str, Any]:
        mid = self.next_mid if first_mid is None else first_mid
        out = [{**m, "mid": mid + i} for i, m in enumerate(mutations)]
        return {"device_id": self.id, "schema_version": SCHEMA_VERSION, "mutations": out}

    def send(self, body: dict[str, Any]) -> PushResult:
        result = run_push(self.db, self.caller, parse_request(body))
        self.next_mid = result.last_mutation_id + 1
        return result

    def push(self, *mutations: dict[str, Any]) -> PushResult:
        return self.send(self.body(*mutations))


def two_devices(server_db: ServerDb, db: Database, name: str) -> tuple[Tenant, Device, Device]:
    """A tenant and two devices of its admin (two laptops that edit the same rows)."""
    t = server_db.tenant(name)
    return (t, Device(db, server_db, t, t.admin_id, "ADMIN"),
            Device(db, server_db, t, t.admin_id, "ADMIN"))


def mutation(table: str, op: str, row_id: str, base: int | None = None,
             **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"table": table, "op": op, "id": row_id, "fields": fields}
    if base is not None:
        out["base_version"] = base
    return out


def create_deal(deal_id: str | None = None, title: str = "Infusion pumps",
                value: str = "1250.00", status: str = "ACTIVE", **more: Any) -> dict[str, Any]:
    return mutation("deals", "create", deal_id or new_id(), title=title, status=status,
                    value=value, **more)


def verdicts(result: PushResult) -> list[str]:
    return [v.verdict for v in result.verdicts]


def snapshot(server_db: ServerDb, t: Tenant) -> dict[str, Any]:
    """Everything a push may write for `t`, read behind RLS's back."""
    with server_db.superuser() as conn:
        def rows(query: str) -> list[tuple[Any, ...]]:
            return conn.execute(query, (t.id,)).fetchall()
        return {
            "version": rows("SELECT sync_version FROM tenants WHERE id = %s"),
            "deals": rows("SELECT id, title, status, value, phi::text, deleted_at, row_version, "
                          "field_versions FROM deals WHERE tenant_id = %s ORDER BY id"),
            "users": rows("SELECT id, email, role, deactivated_at, row_version FROM users "
                          "WHERE tenant_id = %s ORDER BY id"),
            "logs": rows("SELECT count(*) FROM access_logs WHERE tenant_id = %s"),
            "events": rows("SELECT count(*) FROM security_events WHERE tenant_id = %s"),
            "conflicts": rows("SELECT count(*) FROM conflicts WHERE tenant_id = %s"),
            "rejections": rows("SELECT count(*) FROM rejections WHERE tenant_id = %s"),
            "devices": rows("SELECT id, last_mutation_id FROM devices WHERE tenant_id = %s "
                            "ORDER BY id"),
        }
