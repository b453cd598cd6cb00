"""Push's bulk path (push_bulk) against the one-statement-per-mutation path: the same
history pushed into two tenants, one each way, leaves the same verdicts, rows, field
versions and authors, conflicts, rejections, access-log rows (in chain order) and
security events. Deal ids are per tenant, so both tenants use the same ones."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pg_support import ServerDb, Tenant
from push_support import Device, create_deal, mutation, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync import push_bulk
from closeplan_desktop.server.sync.mutations import parse_request
from closeplan_desktop.server.sync.outcome import PushResult
from closeplan_desktop.server.sync.push import push


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def send(device: Device, mutations: list[dict[str, Any]], *, bulk: bool) -> PushResult:
    """One push through `push` itself, bulk or one statement per mutation (pipelined,
    as run_push's first two tries)."""
    request = parse_request(device.body(*mutations))
    with device.db.transaction(device.caller.tenant_id, device.caller.user_id) as conn:
        result = push(conn, device.caller, request, savepoints=False, bulk=bulk)
    device.next_mid = result.last_mutation_id + 1
    return result


class World:
    """A tenant with two admin laptops and a seller's laptop, and their names (ids differ
    between tenants; compared by name)."""

    def __init__(self, server_db: ServerDb, db: Database, name: str) -> None:
        self.t: Tenant = server_db.tenant(name)
        seller = server_db.user(self.t)[0]
        self.a = Device(db, server_db, self.t, self.t.admin_id, "ADMIN")
        self.b = Device(db, server_db, self.t, self.t.admin_id, "ADMIN")
        self.s = Device(db, server_db, self.t, seller, "USER")
        self.names = {self.a.id: "A", self.b.id: "B", self.s.id: "S", self.t.admin_id: "admin",
                      seller: "seller", self.t.id: "tenant"}

    def state(self, server_db: ServerDb) -> dict[str, Any]:
        """Everything the pushes wrote, ids of people and devices by name."""
        def named(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: named(v) for k, v in value.items()}
            return self.names.get(value, value) if isinstance(value, str) else value

        with server_db.superuser() as conn:
            def rows(query: str) -> list[tuple[Any, ...]]:
                return [tuple(named(v) for v in r) for r in conn.execute(query, (self.t.id,))]
            return {
                "version": rows("SELECT sync_version FROM tenants WHERE id = %s"),
                "deals": rows("SELECT id, title, status::text, value, phi::text, "
                              "phi_key_version, created_by_id, deleted_at IS NOT NULL, "
                              "row_version, field_versions, field_devices, "
                              "updated_at > created_at FROM deals WHERE tenant_id = %s "
                              "ORDER BY id"),
                "conflicts": rows("SELECT row_id, field, base_version, server_version, "
                                  "kept_value, losing_value, device_id, mutation_id, "
                                  "row_version FROM conflicts WHERE tenant_id = %s "
                                  "ORDER BY device_id, mutation_id, field"),
                "rejections": rows("SELECT device_id, mutation_id, row_id, op, code, message, "
                                   "fields, row_version FROM rejections WHERE tenant_id = %s "
                                   "ORDER BY device_id, mutation_id"),
                # In chain order (server_seq rises across tenants since 0015).
                "logs": rows("SELECT user_id, deal_id, action::text, success, "
                             "row_version FROM access_logs WHERE tenant_id = %s "
                             "ORDER BY server_seq"),
                "events": rows("SELECT user_id, type, detail FROM security_events "
                               "WHERE tenant_id = %s ORDER BY server_seq"),
            }


def history(rng: random.Random, envelope: str, other_envelope: str) -> list[
        tuple[str, list[dict[str, Any]]]]:
    """Pushes by device name: seed deals, edits by B, then mixed batches by A and S."""
    deals = [new_id() for _ in range(12)]
    mine = [new_id(), new_id()]
    seed = [create_deal(d, title=f"Deal {n}", phi=envelope if n == 0 else None,
                        phi_key_version=1 if n == 0 else None) for n, d in enumerate(deals)]
    steps: list[tuple[str, list[dict[str, Any]]]] = [
        ("A", seed), ("S", [create_deal(d) for d in mine]),
        ("B", [mutation("deals", "update", deals[1], 1, title="B's title"),
               mutation("deals", "update", deals[2], 1, status="DRAFT"),
               mutation("deals", "delete", deals[3], 1),
               mutation("deals", "update", deals[4], 1, phi=other_envelope,
                        phi_key_version=1)])]
    ops = ["update", "update", "update", "delete", "restore", "create", "bad"]
    for who in ("A", "S", "A"):
        batch: list[dict[str, Any]] = []
        fresh: list[str] = []
        for _ in range(40):
            op = rng.choice(ops)
            target = rng.choice(deals + mine + fresh)
            base = rng.choice([0, 1, 2, 3])
            if op == "create":
                fresh.append(new_id())
                batch.append(create_deal(fresh[-1], value=f"{rng.randint(0, 999)}.50"))
            elif op == "update":
                fields: dict[str, Any] = rng.choice([{"title": f"T{rng.randint(0, 3)}"},
                                     {"status": rng.choice(["ACTIVE", "CLOSED_WON"]),
                                      "value": f"{rng.randint(1, 9)}.00"},
                                     {"phi": None, "phi_key_version": None}])
                batch.append(mutation("deals", "update", target, base, **fields))
            elif op == "bad":
                batch.append(rng.choice([
                    mutation("deals", "update", target, base, title="x" * 201),
                    mutation("deals", "update", "no such deal", base, title="Lost"),
                    mutation("deals", "update", new_id(), base, title="Missing"),
                    mutation("deals", "update", target, base, phi=envelope,
                             phi_key_version=7)]))
            else:
                batch.append(mutation("deals", op, target, base))
        steps.append((who, batch))
    return steps


def test_bulk_and_one_by_one_leave_the_same_state(server_db: ServerDb, db: Database) -> None:
    one, bulk = World(server_db, db, "OneByOne"), World(server_db, db, "Bulk")
    decided = handed_back = 0
    for seed in range(3):
        rng = random.Random(seed)
        # The server checks an envelope's shape only, so one envelope serves both tenants.
        envelope = crypto.encrypt_phi(one.t.phi_key, 1, one.t.id, new_id(), {"mrn": "1"})
        other = crypto.encrypt_phi(one.t.phi_key, 1, one.t.id, new_id(), {"mrn": "2"})
        for who, batch in history(rng, envelope, other):
            results = []
            for world, as_bulk in ((one, False), (bulk, True)):
                device = {"A": world.a, "B": world.b, "S": world.s}[who]
                try:
                    results.append(send(device, batch, bulk=as_bulk))
                    decided += as_bulk
                except push_bulk.Fallback:
                    handed_back += 1
                    # A field changed and changed back: the bulk path hands it on.
                    results.append(send(device, batch, bulk=False))
            assert [v.as_json() for v in results[0].verdicts] == \
                   [v.as_json() for v in results[1].verdicts]
        assert one.state(server_db) == bulk.state(server_db)
        # Something of each kind happened, so the comparison covers them.
        state = bulk.state(server_db)
        assert state["conflicts"] and state["rejections"] and state["events"]
        assert any(not success for _, _, _, success, _ in state["logs"])
    assert decided > 2 * handed_back  # the bulk path decided most of them itself


def test_a_field_changed_and_changed_back_goes_one_by_one(server_db: ServerDb,
                                                          db: Database) -> None:
    """The stamp compares the row before and after a statement, so the bulk path hands
    such a batch back; run_push then applies it one statement per mutation."""
    w = World(server_db, db, "Back")
    deal = new_id()
    w.a.push(create_deal(deal))
    batch = [mutation("deals", "update", deal, 1, title="Other"),
             mutation("deals", "update", deal, 1, title="Infusion pumps")]
    with pytest.raises(push_bulk.Fallback):
        send(w.a, batch, bulk=True)
    result = w.a.push(*batch)
    assert verdicts(result) == ["applied", "applied"]
    fv = w.state(server_db)["deals"][0][9]
    assert fv["title"] == result.verdicts[1].row_version > fv["value"]
