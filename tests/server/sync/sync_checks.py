"""What must hold between laptops and the server after sync (issue 12's property test):
the same rows everywhere, no acknowledged write lost, every audit row on the server
exactly once, and an outbox that holds nothing but refusals the user is shown."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from fault_support import Arrivals
from laptop_support import Laptop, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.sync import engine

LOCAL_DEALS = ("SELECT id, title, status, value, phi, deleted_at IS NOT NULL FROM deals "
               "WHERE id NOT IN (SELECT row_id FROM sync_rejections WHERE op = 'create' AND "
               "table_name = 'deals') ORDER BY id")
SERVER_DEALS = ("SELECT id, title, status::text, (value * 100)::bigint, phi::text, "
                "deleted_at IS NOT NULL FROM deals WHERE tenant_id = %s ORDER BY id")
LOCAL_USERS = ("SELECT id, email, first_name, last_name, role, deactivated_at IS NOT NULL "
               "FROM users WHERE id NOT IN (SELECT row_id FROM sync_rejections WHERE "
               "op = 'create' AND table_name = 'users') ORDER BY id")
SERVER_USERS = ("SELECT id, email, first_name, last_name, role::text, deactivated_at IS NOT "
                "NULL FROM users WHERE tenant_id = %s ORDER BY id")
AUDIT_TABLES = ("access_logs", "security_events")


def _phi(text: Any) -> Any:
    return None if text is None else json.loads(str(text))


def _deals(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(i, t, s, int(v), _phi(p), bool(d)) for i, t, s, v, p, d in rows]


def _users(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(i, e, f, la, r, bool(d)) for i, e, f, la, r, d in rows]


def _diff(mine: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]]) -> str:
    a, b = {r[0]: r for r in mine}, {r[0]: r for r in theirs}
    out = [f"{k}: laptop {a.get(k)!r} server {b.get(k)!r}"
           for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return "; ".join(out[:5])


def check_converged(server_db: ServerDb, tenant_id: str, laptops: list[Laptop]) -> None:
    """Every laptop holds the server's deals (tombstones included) and users, field for
    field; a change the server refused to create stays only as a shown refusal."""
    deals = _deals(server_rows(server_db, tenant_id, SERVER_DEALS))
    people = _users(server_rows(server_db, tenant_id, SERVER_USERS))
    for n, laptop in enumerate(laptops):
        mine = _deals(laptop.rows(LOCAL_DEALS))
        assert mine == deals, f"laptop {n} deals differ: {_diff(mine, deals)}"
        mine = _users(laptop.rows(LOCAL_USERS))
        assert mine == people, f"laptop {n} users differ: {_diff(mine, people)}"


def check_an_admin_remains(server_db: ServerDb, tenant_id: str) -> None:
    """Whatever the laptops did offline, the organisation keeps an active admin."""
    assert server_rows(server_db, tenant_id, "SELECT count(*) FROM users WHERE tenant_id = "
                       "%s AND role = 'ADMIN' AND deactivated_at IS NULL")[0][0] >= 1


def check_outbox_shown(laptop: Laptop) -> None:
    """After a round that ended well: nothing waits, and each refused change is shown."""
    assert engine.pending_count(laptop.ws) == 0
    refused = laptop.rows("SELECT mid FROM outbox WHERE verdict = 'rejected' AND mid NOT IN "
                          "(SELECT mutation_id FROM sync_rejections WHERE device_id = ?)",
                          (laptop.ws.device_id,))
    assert refused == [], f"refused changes not shown: {refused}"


def check_audit_once(server_db: ServerDb, tenant_id: str, laptop: Laptop) -> None:
    """This laptop's audit rows, both chains, are on the server exactly once."""
    device = laptop.ws.device_id
    for table in AUDIT_TABLES:
        local = laptop.rows(f"SELECT seq, chain_hash FROM {table} WHERE device_id = ? "
                            "ORDER BY seq", (device,))
        server = server_rows(server_db, tenant_id, f"SELECT seq, chain_hash FROM {table} "
                             "WHERE tenant_id = %s AND device_id = %s ORDER BY seq", (device,))
        assert [(int(s), str(h)) for s, h in server] == [(int(s), str(h)) for s, h in local], \
            f"{table}: {len(local)} rows here, {len(server)} on the server"


# -- no acknowledged write lost --------------------------------------------------------

Write = tuple[str, str, str]  # (table, row id, field)


def _writes(mutation: dict[str, Any]) -> list[tuple[Write, Any]]:
    """The field values one pushed mutation wrote, comparable with `_final`'s."""
    table, row_id, op = mutation["table"], mutation["id"], mutation["op"]
    fields = dict(mutation.get("fields") or {})
    fields.pop("phi_key_version", None)
    if op in ("delete", "restore"):
        fields = {"deleted": op == "delete"}
    elif op in ("deactivate", "reactivate"):
        fields = {"deactivated": op == "deactivate"}
    out: list[tuple[Write, Any]] = []
    for name, value in fields.items():
        if name == "value":
            value = Decimal(str(value))
        elif name == "phi":
            value = _phi(value)
        out.append(((table, row_id, name), value))
    return out


def _final(server_db: ServerDb, tenant_id: str) -> dict[Write, Any]:
    out: dict[Write, Any] = {}
    for i, t, s, v, p, d, o, c, pr in server_rows(server_db, tenant_id, (
            "SELECT id, title, status::text, value, phi::text, deleted_at IS NOT NULL, "
            "owner_id, expected_close_date::text, probability FROM deals "
            "WHERE tenant_id = %s")):
        for name, value in (("title", t), ("status", s), ("value", Decimal(v)),
                            ("phi", _phi(p)), ("deleted", bool(d)), ("owner_id", o),
                            ("expected_close_date", c), ("probability", pr),
                            ("exists", True)):
            out[("deals", i, name)] = value
    for i, e, f, la, r, pw, d in server_rows(server_db, tenant_id, (
            "SELECT id, email, first_name, last_name, role::text, password, deactivated_at "
            "IS NOT NULL FROM users WHERE tenant_id = %s")):
        for name, value in (("email", e), ("first_name", f), ("last_name", la), ("role", r),
                            ("password", pw), ("deactivated", bool(d)), ("exists", True)):
            out[("users", i, name)] = value
    return out


def check_acknowledged_kept(server_db: ServerDb, tenant_id: str, laptops: list[Laptop],
                            arrivals: Arrivals) -> None:
    """Each change a laptop was told was applied or merged holds on the server: every
    field it wrote has its value, or the value of a change that arrived after it."""
    final = _final(server_db, tenant_id)
    later: dict[Write, list[tuple[int, Any]]] = {}
    for arrival in arrivals.in_order():
        for key, value in _writes(arrival.mutation):
            later.setdefault(key, []).append((arrival.order, value))
    for laptop in laptops:
        acked = laptop.rows("SELECT mid, entity, entity_id, op FROM outbox WHERE verdict IN "
                            "('applied', 'merged')")
        for mid, entity, entity_id, op in acked:
            if int(mid) <= arrivals.before.get(laptop.ws.device_id, 0):
                continue  # the setup's, pushed before the test watched
            arrival = arrivals.by_mid.get((laptop.ws.device_id, int(mid)))
            assert arrival is not None, f"mutation {mid} acknowledged but never sent"
            assert final.get((entity, entity_id, "exists")), \
                f"{entity} {entity_id} acknowledged ({op}) but not on the server"
            for key, value in _writes(arrival.mutation):
                allowed = [value] + [v for order, v in later[key] if order > arrival.order]
                assert final[key] in allowed, \
                    f"acknowledged {op} of {key[0]}.{key[2]} ({entity_id}) lost"
