"""Push (SYNC.md, Protocol and Conflicts) on the real cluster: the verdicts of deal
mutations, replays and gaps, rejections that do not block the queue, concurrent pushes,
permissions and tenant isolation. Everything goes through `run_push`, as the route does."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from pg_support import ServerDb
from push_support import Device, create_deal, mutation, snapshot, two_devices, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.errors import ApiError


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def deal_row(server_db: ServerDb, deal_id: str) -> dict[str, Any]:
    with server_db.superuser() as conn:
        cur = conn.execute("SELECT title, status::text, value, phi::text, phi_key_version, "
                           "created_by_id, deleted_at, row_version FROM deals WHERE id = %s",
                           (deal_id,))
        row = cur.fetchone()
        assert row is not None
        return dict(zip([c.name for c in cur.description or []], row, strict=True))


def one(server_db: ServerDb, query: str, *params: Any) -> Any:
    with server_db.superuser() as conn:
        row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]


def test_a_created_deal_is_the_pushers_with_its_access_log_row(server_db: ServerDb,
                                                                db: Database) -> None:
    t = server_db.tenant("Create")
    seller = server_db.user(t)[0]
    device = Device(db, server_db, t, seller, "USER")
    deal_id = new_id()
    result = device.push(create_deal(deal_id, title="  MRI suite ", value="99999999999999.99",
                                     status="closed won"))
    assert verdicts(result) == ["applied"]
    row = deal_row(server_db, deal_id)
    assert (row["title"], row["status"], row["value"]) == (
        "MRI suite", "CLOSED_WON", Decimal("99999999999999.99"))
    assert row["created_by_id"] == seller
    assert result.verdicts[0].row_version == row["row_version"] == result.sync_version
    assert result.last_mutation_id == 1
    assert one(server_db, "SELECT last_mutation_id FROM devices WHERE id = %s", device.id) == 1
    with server_db.superuser() as conn:
        logs = conn.execute("SELECT user_id, action::text, access_type::text, resource_type, "
                            "success, device_id, seq FROM access_logs WHERE deal_id = %s",
                            (deal_id,)).fetchall()
    assert logs == [(seller, "DEAL_CREATE", "WRITE", "deal", True, None, None)]


def test_update_at_base_applies_and_a_moved_row_merges(server_db: ServerDb,
                                                       db: Database) -> None:
    _t, a, b = two_devices(server_db, db, "Merge")
    deal_id = new_id()
    base = a.push(create_deal(deal_id)).verdicts[0].row_version
    first = b.push(mutation("deals", "update", deal_id, base, status="DRAFT"))
    assert verdicts(first) == ["applied"]
    # a has not seen b's change: the row moved on, but not in the field a changes.
    second = a.push(mutation("deals", "update", deal_id, base, value="10.00"))
    assert verdicts(second) == ["merged"]
    row = deal_row(server_db, deal_id)
    assert (row["status"], row["value"]) == ("DRAFT", Decimal("10.00"))
    assert one(server_db, "SELECT count(*) FROM conflicts WHERE row_id = %s", deal_id) == 0
    logs = one(server_db, "SELECT count(*) FROM access_logs WHERE deal_id = %s AND action = "
                          "'DEAL_UPDATE'", deal_id)
    assert logs == 2


def test_a_field_both_changed_is_a_conflict_the_pushed_value_wins(server_db: ServerDb,
                                                                  db: Database) -> None:
    _t, a, b = two_devices(server_db, db, "Conflict")
    deal_id = new_id()
    base = a.push(create_deal(deal_id, title="Original")).verdicts[0].row_version
    b.push(mutation("deals", "update", deal_id, base, title="Theirs"))
    result = a.push(mutation("deals", "update", deal_id, base, title="Mine", status="DRAFT"))
    assert verdicts(result) == ["conflict"]
    assert result.verdicts[0].code == "field_conflict"
    assert "title" in (result.verdicts[0].message or "")
    assert deal_row(server_db, deal_id)["title"] == "Mine"
    with server_db.superuser() as conn:
        rows = conn.execute("SELECT table_name, field, base_version, kept_value, losing_value, "
                            "device_id, mutation_id FROM conflicts WHERE row_id = %s",
                            (deal_id,)).fetchall()
    assert rows == [("deals", "title", base, "Mine", "Theirs", a.id, 2)]


def test_a_devices_own_earlier_change_is_no_conflict(server_db: ServerDb, db: Database) -> None:
    """Two offline edits of one field carry the same base (no pull in between)."""
    t = server_db.tenant("Own")
    a = Device(db, server_db, t, t.admin_id, "ADMIN")
    deal_id = new_id()
    base = a.push(create_deal(deal_id)).verdicts[0].row_version
    a.push(mutation("deals", "update", deal_id, base, title="Once"))
    result = a.push(mutation("deals", "update", deal_id, base, title="Twice"),
                    mutation("deals", "update", deal_id, base, title="Thrice"))
    assert verdicts(result) == ["applied", "applied"]
    assert deal_row(server_db, deal_id)["title"] == "Thrice"
    assert one(server_db, "SELECT count(*) FROM conflicts WHERE row_id = %s", deal_id) == 0


def test_a_phi_conflict_keeps_the_losing_envelope(server_db: ServerDb, db: Database) -> None:
    t, a, b = two_devices(server_db, db, "Phi")
    deal_id = new_id()

    def sealed(name: str) -> str:
        return crypto.encrypt_phi(t.phi_key, 1, t.id, deal_id, {"patient_name": name})

    first, theirs, mine = sealed("A"), sealed("B"), sealed("C")
    base = a.push(create_deal(deal_id, phi=first, phi_key_version=1)).verdicts[0].row_version
    assert verdicts(b.push(mutation("deals", "update", deal_id, base, phi=theirs,
                                    phi_key_version=1))) == ["applied"]
    result = a.push(mutation("deals", "update", deal_id, base, phi=mine, phi_key_version=1))
    assert verdicts(result) == ["conflict"]
    row = deal_row(server_db, deal_id)
    assert row["phi"] == mine
    assert crypto.decrypt_phi(t.phi_key, t.id, deal_id, row["phi"]) == {"patient_name": "C"}
    with server_db.superuser() as conn:
        kept, losing = conn.execute("SELECT kept_value, losing_value FROM conflicts "
                                    "WHERE row_id = %s AND field = 'phi'", (deal_id,)).fetchone()
    assert kept == {"phi": mine, "phi_key_version": 1}
    assert losing == {"phi": theirs, "phi_key_version": 1}


def test_delete_beats_a_concurrent_edit_which_is_kept_and_flagged(server_db: ServerDb,
                                                                  db: Database) -> None:
    _t, a, b = two_devices(server_db, db, "Tombstone")
    deal_id = new_id()
    base = a.push(create_deal(deal_id, title="Before")).verdicts[0].row_version
    assert verdicts(a.push(mutation("deals", "delete", deal_id, base))) == ["applied"]
    result = b.push(mutation("deals", "update", deal_id, base, title="Edited offline"))
    assert verdicts(result) == ["conflict"]
    assert result.verdicts[0].code == "deal_deleted"
    row = deal_row(server_db, deal_id)
    assert row["title"] == "Before" and row["deleted_at"] is not None
    with server_db.superuser() as conn:
        flagged = conn.execute("SELECT field, kept_value, losing_value, resolved_at FROM "
                               "conflicts WHERE row_id = %s", (deal_id,)).fetchall()
    assert flagged == [("title", "Before", "Edited offline", None)]
    # Once it has seen the delete, an edit is refused; a restore brings the deal back.
    seen = row["row_version"]
    late = b.push(mutation("deals", "update", deal_id, seen, title="Again"),
                  mutation("deals", "restore", deal_id, seen),
                  mutation("deals", "update", deal_id, seen, title="Again"))
    assert verdicts(late) == ["rejected", "applied", "applied"]
    assert late.verdicts[0].code == "deal_deleted"
    row = deal_row(server_db, deal_id)
    assert row["title"] == "Again" and row["deleted_at"] is None
    actions = one(server_db, "SELECT array_agg(action::text ORDER BY \"timestamp\") FROM "
                             "access_logs WHERE deal_id = %s", deal_id)
    assert actions == ["DEAL_CREATE", "DEAL_DELETE", "DEAL_UPDATE", "DEAL_UPDATE"]


def test_a_rejection_mid_batch_does_not_stop_the_rest_and_advances_the_queue(
        server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Batch")
    device = Device(db, server_db, t, t.admin_id, "ADMIN")
    good1, good2 = new_id(), new_id()
    # The fourth is refused by the database itself (the id exists): the push runs again
    # with a savepoint per mutation, and only that one is undone.
    result = device.push(create_deal(good1), create_deal(title="x" * 201),
                         create_deal(value="12.5"), create_deal(good1, title="Again"),
                         create_deal(good2))
    assert verdicts(result) == ["applied", "rejected", "rejected", "rejected", "applied"]
    assert [v.code for v in result.verdicts[1:4]] == ["invalid", "invalid", "exists"]
    assert "Title is too long" in (result.verdicts[1].message or "")
    assert result.last_mutation_id == 5
    assert one(server_db, "SELECT count(*) FROM deals WHERE tenant_id = %s", t.id) == 2
    assert deal_row(server_db, good1)["title"] == "Infusion pumps"
    with server_db.superuser() as conn:
        stored = conn.execute("SELECT mutation_id, code, op, table_name FROM rejections WHERE "
                              "device_id = %s ORDER BY mutation_id", (device.id,)).fetchall()
    assert stored == [(2, "invalid", "create", "deals"), (3, "invalid", "create", "deals"),
                      (4, "exists", "create", "deals")]
    # The rejected deals' rows were undone alone: no access-log row claims them.
    assert one(server_db, "SELECT count(*) FROM access_logs WHERE tenant_id = %s", t.id) == 2


def test_a_replayed_push_changes_nothing(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Replay")
    device = Device(db, server_db, t, t.admin_id, "ADMIN")
    deal_id = new_id()
    body = device.body(create_deal(deal_id), create_deal(title=""),
                       mutation("deals", "update", deal_id, 0, title="Renamed"))
    first = device.send(body)
    assert verdicts(first) == ["applied", "rejected", "applied"]
    before = snapshot(server_db, t)
    again = device.send(body)
    assert verdicts(again) == ["duplicate", "rejected", "duplicate"]
    assert again.verdicts[1].code == "invalid"
    assert again.verdicts[1].message == first.verdicts[1].message
    assert (again.last_mutation_id, again.sync_version) == (3, first.sync_version)
    assert snapshot(server_db, t) == before


def test_a_gap_is_409_with_the_expected_mid_and_writes_nothing(server_db: ServerDb,
                                                               db: Database) -> None:
    t = server_db.tenant("Gap")
    device = Device(db, server_db, t, t.admin_id, "ADMIN")
    device.push(create_deal())
    before = snapshot(server_db, t)
    with pytest.raises(ApiError) as caught:
        device.send(device.body(create_deal(), create_deal(), first_mid=3))
    assert caught.value.status == 409
    assert caught.value.body()["error"]["code"] == "mutation_gap"
    assert caught.value.body()["error"]["expected_mid"] == 2
    assert snapshot(server_db, t) == before
    # A batch that overlaps what the server has is fine: the old part is a replay.
    result = device.send(device.body(create_deal(), create_deal(), first_mid=1))
    assert verdicts(result) == ["duplicate", "applied"]


def test_concurrent_pushes_on_one_deal_give_one_conflict_and_a_consistent_row(
        server_db: ServerDb, db: Database) -> None:
    _t, a, b = two_devices(server_db, db, "Race")
    deal_id = new_id()
    base = a.push(create_deal(deal_id, title="Start")).verdicts[0].row_version
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def go(device: Device, title: str) -> None:
        start.wait()
        results[title] = device.push(mutation("deals", "update", deal_id, base, title=title))

    threads = [threading.Thread(target=go, args=(a, "From A")),
               threading.Thread(target=go, args=(b, "From Bee"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    got = {title: verdicts(r)[0] for title, r in results.items()}
    assert sorted(got.values()) == ["applied", "conflict"]
    winner = next(title for title, v in got.items() if v == "conflict")
    loser = next(title for title, v in got.items() if v == "applied")
    row = deal_row(server_db, deal_id)
    assert row["title"] == winner
    assert row["row_version"] == results[winner].sync_version > results[loser].sync_version
    with server_db.superuser() as conn:
        rows = conn.execute("SELECT field, kept_value, losing_value FROM conflicts "
                            "WHERE row_id = %s ORDER BY field", (deal_id,)).fetchall()
    assert rows == [("title", winner, loser)]


def test_a_user_cannot_change_anothers_deal(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Owner")
    deal_id = server_db.deal(t)  # the admin's
    seller = server_db.user(t)[0]
    device = Device(db, server_db, t, seller, "USER")
    before = deal_row(server_db, deal_id)
    result = device.push(mutation("deals", "update", deal_id, 0, title="Mine now"),
                         mutation("deals", "delete", deal_id, 0))
    assert verdicts(result) == ["rejected", "rejected"]
    assert {v.code for v in result.verdicts} == {"forbidden"}
    assert deal_row(server_db, deal_id) == before
    denied = one(server_db, "SELECT array_agg(action::text ORDER BY action) FROM access_logs "
                            "WHERE deal_id = %s AND NOT success AND user_id = %s", deal_id,
                 seller)
    assert denied == ["DEAL_UPDATE", "DEAL_DELETE"]
    # Their own deal they may change.
    own = new_id()
    mine = device.push(create_deal(own), mutation("deals", "delete", own, 0))
    assert verdicts(mine) == ["applied", "applied"]


def test_another_tenants_deal_answers_as_missing_and_stays_unchanged(
        server_db: ServerDb, db: Database) -> None:
    a, b = server_db.tenant("Alpha"), server_db.tenant("Beta")
    theirs = server_db.deal(b, {"patient_name": "Jane"})
    before_b = snapshot(server_db, b)
    device = Device(db, server_db, a, a.admin_id, "ADMIN")
    result = device.push(mutation("deals", "update", theirs, 0, title="Taken"),
                         mutation("deals", "delete", theirs, 0),
                         create_deal(theirs, title="Same id, my tenant"))
    assert verdicts(result) == ["rejected", "rejected", "applied"]
    assert [v.code for v in result.verdicts[:2]] == ["not_found", "not_found"]
    assert result.verdicts[0].message == "No such deal in your workspace."
    assert snapshot(server_db, b) == before_b
    assert one(server_db, "SELECT count(*) FROM security_events WHERE tenant_id = %s AND "
                          "type = 'ACCESS_DENIED'", a.id) == 2


def test_phi_is_checked_for_shape_and_key_version_never_opened(server_db: ServerDb,
                                                               db: Database) -> None:
    t = server_db.tenant("Envelope")
    device = Device(db, server_db, t, t.admin_id, "ADMIN")
    deal_id = new_id()
    good = crypto.encrypt_phi(t.phi_key, 1, t.id, deal_id, {"mrn": "123"})
    forged_v2 = good.replace('"k":1', '"k":2')
    result = device.push(
        create_deal(phi='{"v":1,"k":1,"n":"AAAA","c":"AAAA"}', phi_key_version=1),
        create_deal(phi="not json", phi_key_version=1),
        create_deal(phi=good, phi_key_version=2),
        create_deal(phi=forged_v2, phi_key_version=2),
        create_deal(phi=good, phi_key_version=None),
        create_deal(deal_id, phi=good, phi_key_version=1),
        create_deal(phi=good, phi_key_version=1))
    assert [(v.verdict, v.code) for v in result.verdicts] == [
        ("rejected", "invalid_phi"), ("rejected", "invalid_phi"), ("rejected", "invalid_phi"),
        ("rejected", "phi_key_unknown"), ("rejected", "invalid"), ("applied", None),
        ("rejected", "invalid_phi")]  # the last reuses the first deal's envelope (nonce)
    assert deal_row(server_db, deal_id)["phi"] == good


def test_a_revoked_or_foreign_device_and_a_wrong_schema_are_refused(
        server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Refused")
    seller = server_db.user(t)[0]
    mine = Device(db, server_db, t, t.admin_id, "ADMIN")
    revoked = Device(db, server_db, t, t.admin_id, "ADMIN",
                     server_db.device(t, t.admin_id, "REVOKED"))
    before = snapshot(server_db, t)
    cases = [
        (mine.body(create_deal()) | {"device_id": new_id()}, mine, "device_mismatch"),
        (mine.body(create_deal()) | {"schema_version": 99}, mine, "schema_version"),
    ]
    cases.append((revoked.body(create_deal()), revoked, "device_not_active"))
    # A session of one user with another user's device.
    borrowed = Device(db, server_db, t, seller, "USER", mine.id)
    cases.append((borrowed.body(create_deal()), borrowed, "device_not_active"))
    for body, device, code in cases:
        with pytest.raises(ApiError) as caught:
            device.send(body)
        assert caught.value.code == code
        assert 400 <= caught.value.status < 500
    assert snapshot(server_db, t) == before
