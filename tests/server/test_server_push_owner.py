"""Issue 15 on the server: owner, expected close date and probability go through push
(field last writer wins, per field versions), the owner (not the creator) or an admin
may change a deal, a bad owner or probability is a rejected verdict (never a 500), and
history records the new fields. Both push paths: in bulk and one by one."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pg_support import ServerDb
from push_support import Device, create_deal, mutation, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync import push as push_module
from closeplan_desktop.server.sync.mutations import parse_request
from closeplan_desktop.server.sync.outcome import PushResult


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def row(server_db: ServerDb, deal_id: str) -> dict[str, Any]:
    with server_db.superuser() as conn:
        cur = conn.execute("SELECT owner_id, created_by_id, expected_close_date, probability, "
                           "field_versions FROM deals WHERE id = %s", (deal_id,))
        found = cur.fetchone()
        assert found is not None
        return dict(zip([c.name for c in cur.description or []], found, strict=True))


def one_by_one(device: Device, *mutations: dict[str, Any]) -> PushResult:
    """The per-mutation path (savepoints), as a push the bulk path gives back runs."""
    request = parse_request(device.body(*mutations))
    with device.db.transaction(device.tenant.id, device.caller.user_id) as conn:
        result = push_module.push(conn, device.caller, request, savepoints=True)
    device.next_mid = result.last_mutation_id + 1
    return result


@pytest.mark.parametrize("path", ["bulk", "one"])
def test_owner_close_date_and_probability_sync_with_owner_permissions(
        server_db: ServerDb, db: Database, path: str) -> None:
    t = server_db.tenant(f"Own {path}")
    rep_a, _ = server_db.user(t)
    rep_b, _ = server_db.user(t)
    a = Device(db, server_db, t, rep_a, "USER")
    b = Device(db, server_db, t, rep_b, "USER")

    def send(device: Device, *ms: dict[str, Any]) -> PushResult:
        return device.push(*ms) if path == "bulk" else one_by_one(device, *ms)

    deal = new_id()
    assert verdicts(send(a, create_deal(deal, expected_close_date="2027-03-31",
                                        probability=40))) == ["applied"]
    got = row(server_db, deal)
    assert (got["owner_id"], got["created_by_id"]) == (rep_a, rep_a)
    assert (got["expected_close_date"], got["probability"]) == (date(2027, 3, 31), 40)
    created = got["field_versions"]["owner_id"]
    # B may not touch A's deal; A hands it to B; then B may, and A may not.
    assert verdicts(send(b, mutation("deals", "update", deal, 1, probability=90))) == [
        "rejected"]
    assert verdicts(send(a, mutation("deals", "update", deal, created, owner_id=rep_b))) == [
        "applied"]
    got = row(server_db, deal)
    assert got["owner_id"] == rep_b and got["field_versions"]["owner_id"] > created
    assert verdicts(send(b, mutation("deals", "update", deal, created, probability=None,
                                     expected_close_date=None))) == ["merged"]
    refused = send(a, mutation("deals", "update", deal, created, title="Still mine?"))
    assert verdicts(refused) == ["rejected"] and refused.verdicts[0].code == "forbidden"
    got = row(server_db, deal)
    assert (got["expected_close_date"], got["probability"]) == (None, None)
    with server_db.superuser() as conn:
        changes = [r[0] for r in conn.execute(
            "SELECT changes FROM deal_history WHERE deal_id = %s ORDER BY created_at", (deal,))]
    assert changes[0][-2:] == [{"field": "expected_close_date", "new": "2027-03-31"},
                               {"field": "probability", "new": 40}]
    assert changes[1] == [{"field": "owner_id", "old": rep_a, "new": rep_b}]
    assert changes[2] == [{"field": "expected_close_date", "old": "2027-03-31", "new": None},
                          {"field": "probability", "old": 40, "new": None}]


@pytest.mark.parametrize("path", ["bulk", "one"])
def test_bad_owner_and_probability_are_rejected_verdicts(server_db: ServerDb, db: Database,
                                                         path: str) -> None:
    t = server_db.tenant(f"Bad owner {path}")
    other = server_db.tenant(f"Elsewhere {path}")
    outsider, _ = server_db.user(other)
    gone, _ = server_db.user(t)
    with server_db.superuser() as conn:
        conn.execute("UPDATE users SET deactivated_at = now() WHERE id = %s", (gone,))
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    send = admin.push if path == "bulk" else (lambda *ms: one_by_one(admin, *ms))
    result = send(create_deal(owner_id=outsider), create_deal(owner_id=gone),
                  create_deal(probability=101), create_deal(expected_close_date="31/12/2027"),
                  create_deal(owner_id="not an id"))
    assert verdicts(result) == ["rejected"] * 5
    codes = [(v.code, v.message or "") for v in result.verdicts]
    assert codes[0][0] == "invalid_owner" and "user of your organisation" in codes[0][1]
    assert codes[1][0] == "invalid_owner" and "deactivated" in codes[1][1]
    assert codes[2][0] == "invalid" and "Probability must be" in codes[2][1]
    assert codes[3][0] == "invalid" and "Expected close date" in codes[3][1]
    assert codes[4][0] == "invalid_owner"
    with server_db.superuser() as conn:
        assert conn.execute("SELECT count(*) FROM deals WHERE tenant_id = %s",
                            (t.id,)).fetchone() == (0,)


def test_the_server_keeps_the_status_defaults_of_core(server_db: ServerDb) -> None:
    from closeplan_desktop.core.domain.probability import DEFAULTS

    with server_db.superuser() as conn:
        for status, pct in DEFAULTS.items():
            assert conn.execute("SELECT deal_default_probability(%s::deal_status), "
                                "deal_effective_probability(NULL, %s::deal_status), "
                                "deal_effective_probability(7::smallint, %s::deal_status)",
                                (status.value,) * 3).fetchone() == (pct, pct, 7)


def test_a_deal_written_without_an_owner_is_its_creators(server_db: ServerDb) -> None:
    t = server_db.tenant("Default owner")
    deal = server_db.deal(t)
    assert row(server_db, deal)["owner_id"] == t.admin_id


@pytest.mark.parametrize("path", ["bulk", "one"])
def test_a_deal_of_a_deactivated_owner_can_still_be_edited(server_db: ServerDb, db: Database,
                                                           path: str) -> None:
    """A push that sends the deal's own (now deactivated) owner with an edit is applied:
    only a change of owner is checked against the active users."""
    t = server_db.tenant(f"Gone owner {path}")
    rep, _ = server_db.user(t)
    other, _ = server_db.user(t)
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    send = admin.push if path == "bulk" else (lambda *ms: one_by_one(admin, *ms))
    deal, second = new_id(), new_id()
    assert verdicts(send(create_deal(deal, owner_id=rep),
                         create_deal(second, owner_id=other))) == ["applied"] * 2
    with server_db.superuser() as conn:
        conn.execute("UPDATE users SET deactivated_at = now() WHERE id = %s", (rep,))
    version = row(server_db, deal)["field_versions"]["owner_id"]
    assert verdicts(send(mutation("deals", "update", deal, version, owner_id=rep,
                                  title="Renamed"))) == ["applied"]
    refused = send(mutation("deals", "update", second, version, owner_id=rep))
    assert verdicts(refused) == ["rejected"] and refused.verdicts[0].code == "invalid_owner"
    assert row(server_db, deal)["owner_id"] == rep and row(server_db, second)["owner_id"] == other
