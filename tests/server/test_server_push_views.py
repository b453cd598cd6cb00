"""Pushed and pulled saved views (issue 15): per user on the server too. A device pushes
only its user's views (another's is refused, nothing written), last writer wins per
view, a delete is a tombstone that beats a later edit, a malformed view is a 422; pull
and the checkpoint give every caller, admins too, only their own views."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pg_support import ServerDb
from pull_support import Client, caller
from push_support import Device, mutation, verdicts

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.sync import pull

QUERY = json.dumps({"search": "cardio", "status": "ACTIVE"})


@pytest.fixture(scope="module")
def db(server_db: ServerDb) -> Database:
    return server_db.pool(max_size=4)


def view(server_db: ServerDb, view_id: str) -> dict[str, Any] | None:
    with server_db.superuser() as conn:
        cur = conn.execute("SELECT user_id, name, query, is_default, deleted_at IS NOT NULL "
                           "AS gone FROM saved_views WHERE id = %s", (view_id,))
        row = cur.fetchone()
        return None if row is None else dict(
            zip([c.name for c in cur.description or []], row, strict=True))


def save(user_id: str, view_id: str | None = None, **fields: Any) -> dict[str, Any]:
    values = {"user_id": user_id, "name": "Hot", "query": QUERY, "is_default": 0, **fields}
    return mutation("saved_views", "create", view_id or new_id(), **values)


def test_own_views_push_last_writer_wins_and_delete_beats_a_late_edit(
        server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("Views")
    rep = server_db.user(t)[0]
    laptop = Device(db, server_db, t, rep, "USER")
    other = Device(db, server_db, t, rep, "USER")
    vid = new_id()
    assert verdicts(laptop.push(save(rep, vid, name="  Hot  "))) == ["applied"]
    assert view(server_db, vid) == {"user_id": rep, "name": "Hot", "query": QUERY,
                                    "is_default": False, "gone": False}
    assert verdicts(laptop.push(mutation("saved_views", "update", vid, 0,
                                         name="Hotter"))) == ["applied"]
    assert verdicts(other.push(mutation("saved_views", "update", vid, 0,
                                        is_default=1))) == ["applied"]
    row = view(server_db, vid)
    assert row is not None and (row["name"], row["is_default"]) == ("Hotter", True)
    assert verdicts(laptop.push(mutation("saved_views", "delete", vid, 0))) == ["applied"]
    late = other.push(mutation("saved_views", "update", vid, 0, name="late"))
    assert verdicts(late) == ["conflict"] and late.verdicts[0].code == "view_deleted"
    gone = view(server_db, vid)
    assert gone is not None and gone["gone"]


def test_another_users_view_is_refused_and_nothing_is_written(
        server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("NotYours")
    rep = server_db.user(t)[0]
    admin = Device(db, server_db, t, t.admin_id, "ADMIN")
    laptop = Device(db, server_db, t, rep, "USER")
    admins_view = new_id()
    assert verdicts(admin.push(save(t.admin_id, admins_view))) == ["applied"]
    forged = new_id()
    result = laptop.push(
        save(t.admin_id, forged),  # a view "of the admin's", from the rep's device
        mutation("saved_views", "update", admins_view, 0, name="Mine now"),
        mutation("saved_views", "delete", admins_view, 0),
        save(rep, name="   "),
        save(rep, query="not json"))
    assert verdicts(result) == ["rejected"] * 5
    codes = [v.code for v in result.verdicts]
    assert codes == ["forbidden", "not_found", "not_found", "invalid", "invalid"]
    assert "signed-in user's views" in (result.verdicts[0].message or "")
    assert view(server_db, forged) is None
    kept = view(server_db, admins_view)
    assert kept is not None and kept["name"] == "Hot" and not kept["gone"]
    # Even an admin's device cannot change a rep's view.
    reps_view = new_id()
    laptop.push(save(rep, reps_view))
    refused = admin.push(mutation("saved_views", "update", reps_view, 0, name="x"))
    assert verdicts(refused) == ["rejected"] and refused.verdicts[0].code == "not_found"


def test_a_malformed_view_is_a_422_and_writes_nothing(server_db: ServerDb,
                                                      db: Database) -> None:
    t = server_db.tenant("ViewShape")
    laptop = Device(db, server_db, t, t.admin_id, "ADMIN")
    for bad in (save(t.admin_id, query="x" * 1001), save(t.admin_id, colour="red"),
                mutation("saved_views", "create", new_id(), name="x", query="{}"),
                save(t.admin_id, is_default="yes"),
                mutation("saved_views", "update", new_id(), name="x")):
        with pytest.raises(ApiError) as err:
            laptop.push(bad)
        assert err.value.status == 422
    with server_db.superuser() as conn:
        assert conn.execute("SELECT count(*) FROM saved_views WHERE tenant_id = %s",
                            (t.id,)).fetchone() == (0,)


def test_pull_and_checkpoint_give_each_caller_only_their_own_views(
        server_db: ServerDb, db: Database) -> None:
    t = server_db.tenant("ViewPull")
    rep = server_db.user(t)[0]
    rep_device = Device(db, server_db, t, rep, "USER")
    admin_device = Device(db, server_db, t, t.admin_id, "ADMIN")
    reps, admins = new_id(), new_id()
    rep_device.push(save(rep, reps, name="Rep's"))
    admin_device.push(save(t.admin_id, admins, name="Admin's"))
    for who, mine in ((caller(t, rep, rep_device.id), reps),
                      (caller(t, t.admin_id, admin_device.id, "ADMIN"), admins)):
        client = Client(db, who)
        client.sync()
        assert client.ids("saved_views") == {mine}
        with pull.snapshot(db, who) as conn:
            summary = pull.checkpoint(conn, who)
        assert summary.counts["saved_views"] == 1
        assert summary.hash == client.hash()
