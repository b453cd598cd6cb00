"""Pushed deal activities (issue 15): the desktop's rules again on the server, a verdict
for each refusal (the queue still advances), last writer wins per field, a delete that
beats a later edit, and the history a pushed deal change writes."""

from __future__ import annotations

from typing import Any

import pytest
from pg_support import ServerDb
from push_support import Device, create_deal, mutation, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.errors import ApiError


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def activity(server_db: ServerDb, activity_id: str) -> dict[str, Any]:
    with server_db.superuser() as conn:
        cur = conn.execute("SELECT kind, body, due_at, done_at, deleted_at IS NOT NULL AS gone,"
                           " created_by_id FROM deal_activities WHERE id = %s", (activity_id,))
        row = cur.fetchone()
        assert row is not None
        return dict(zip([c.name for c in cur.description or []], row, strict=True))


def add(deal_id: str, act_id: str | None = None, **fields: Any) -> dict[str, Any]:
    values = {"kind": "NOTE", "body": "Called", "due_at": None, "done_at": None, **fields}
    return mutation("deal_activities", "create", act_id or new_id(), deal_id=deal_id, **values)


def test_create_update_delete_and_last_writer_wins(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Acts")
    rep = server_db.user(t)[0]
    laptop = Device(db, server_db, t, rep, "USER")
    other = Device(db, server_db, t, rep, "USER")
    deal_id = new_id()
    task = new_id()
    result = laptop.push(create_deal(deal_id),
                         add(deal_id, task, kind="task", body=" Send quote ",
                             due_at="2026-12-04"))
    assert verdicts(result) == ["applied", "applied"]
    row = activity(server_db, task)
    assert (row["kind"], row["body"], row["created_by_id"]) == ("TASK", "Send quote", rep)
    assert row["due_at"].date().isoformat() == "2026-12-04"
    # Two devices change different fields of one task: both stay (per field).
    assert verdicts(laptop.push(mutation("deal_activities", "update", task, 0,
                                         body="Send the signed quote"))) == ["applied"]
    assert verdicts(other.push(mutation("deal_activities", "update", task, 0,
                                        done_at="2026-12-01T10:00:00Z"))) == ["applied"]
    row = activity(server_db, task)
    assert row["body"] == "Send the signed quote" and row["done_at"] is not None
    # Delete beats an edit that arrives after it: kept deleted, answered as a conflict.
    assert verdicts(laptop.push(mutation("deal_activities", "delete", task, 0))) == ["applied"]
    late = other.push(mutation("deal_activities", "update", task, 0, body="late edit"))
    assert verdicts(late) == ["conflict"] and late.verdicts[0].code == "activity_deleted"
    assert activity(server_db, task)["gone"]


def test_refusals_are_verdicts_with_clear_messages(server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Refuse")
    rep = server_db.user(t)[0]
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    laptop = Device(db, server_db, t, rep, "USER")
    admins_deal = server_db.deal(t)
    note = new_id()
    assert verdicts(admin.push(add(admins_deal, note))) == ["applied"]
    result = laptop.push(
        add(admins_deal),  # not the rep's deal
        add(new_id()),  # no such deal
        add(admins_deal, kind="fax"),
        mutation("deal_activities", "update", note, 0, body="rewrite"),  # the admin's
        mutation("deal_activities", "delete", note, 0))
    assert verdicts(result) == ["rejected"] * 5
    codes = [(v.code, v.message) for v in result.verdicts]
    assert codes[0][0] == "forbidden" and "owner or an administrator" in codes[0][1]
    assert codes[1][0] == "not_found"
    assert codes[2][0] == "forbidden"
    assert codes[3][0] == "forbidden" and codes[4][0] == "forbidden"
    mine = server_db.deal(t)
    with server_db.superuser() as conn:  # hand the deal to the rep for the value checks
        conn.execute("UPDATE deals SET owner_id = %s WHERE id = %s", (rep, mine))
    result = laptop.push(add(mine, kind="fax"), add(mine, due_at="2026-12-01"),
                         add(mine, kind="TASK", due_at="someday"), add(mine, body="   "))
    assert verdicts(result) == ["rejected"] * 4
    messages = [v.message or "" for v in result.verdicts]
    assert "Activity kind must be one of" in messages[0]
    assert "Only a task or a next step has a due date" in messages[1]
    assert "Due date must be a date" in messages[2]
    assert "Activity text is required" in messages[3]
    assert activity(server_db, note)["body"] == "Called"


def test_a_malformed_activity_is_a_422_and_writes_nothing(server_db: ServerDb,
                                                          db: Database) -> None:
    t = server_db.tenant("Shape")
    laptop = Device(db, server_db, t, t.admin_id, "ADMIN")
    deal_id = server_db.deal(t)
    for bad in (add(deal_id, body="x" * 1001), add(deal_id, colour="red"),
                mutation("deal_activities", "create", new_id(), kind="NOTE", body="x"),
                mutation("deal_activities", "update", new_id(), body="x")):
        with pytest.raises(ApiError) as err:
            laptop.push(bad)
        assert err.value.status == 422
    with server_db.superuser() as conn:
        assert conn.execute("SELECT count(*) FROM deal_activities WHERE tenant_id = %s",
                            (t.id,)).fetchone() == (0,)


def test_a_pushed_deal_change_writes_history_with_the_pusher(server_db: ServerDb,
                                                             db: Database) -> None:
    t = server_db.tenant("PushHist")
    laptop = Device(db, server_db, t, t.admin_id, "ADMIN")
    deal_id = new_id()
    laptop.push(create_deal(deal_id, title="Pumps"))
    laptop.push(mutation("deals", "update", deal_id, 0, title="Pumps II", status="DRAFT"),
                mutation("deals", "delete", deal_id, 0))
    with server_db.superuser() as conn:
        rows = conn.execute("SELECT op, changes, user_id FROM deal_history WHERE deal_id = %s "
                            "ORDER BY row_version, op", (deal_id,)).fetchall()
    ops = [r[0] for r in rows]
    assert ops[0] == "create" and all(r[2] == t.admin_id for r in rows)
    # The bulk path writes both mutations in one statement: one row holds both.
    changed = [c for r in rows[1:] for c in r[1]]
    assert {"field": "title", "old": "Pumps", "new": "Pumps II"} in changed
    assert {"field": "status", "old": "ACTIVE", "new": "DRAFT"} in changed
    assert "delete" in ops
