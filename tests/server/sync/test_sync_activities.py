"""Deal activities and history between two laptops through the real server (issue 15):
activities push and pull (a create appends, an edit is last writer wins per field, a
delete wins), each side writes its own history and every laptop ends with the server's,
once per change, in bootstrap too."""

from __future__ import annotations

import json
from pathlib import Path

from api_support import Api
from laptop_support import Laptop, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import activities, deals, timeline, users

REP_PASSWORD = "Marble-Kettle-Violin-77"
ACTIVITIES = ("SELECT id, deal_id, kind, body, due_at IS NOT NULL, done_at IS NOT NULL, "
              "created_by_id, deleted_at IS NOT NULL FROM deal_activities ORDER BY id")
SERVER_ACTIVITIES = ("SELECT id, deal_id, kind, body, due_at IS NOT NULL, done_at IS NOT NULL,"
                     " created_by_id, deleted_at IS NOT NULL FROM deal_activities "
                     "WHERE tenant_id = %s ORDER BY id")
HISTORY = "SELECT id, deal_id, op, changes, user_id FROM deal_history ORDER BY id"
SERVER_HISTORY = ("SELECT id, deal_id, op, changes::text, user_id FROM deal_history "
                  "WHERE tenant_id = %s ORDER BY id")


def same_activities_and_history(server_db: ServerDb, tenant_id: str, *laptops: Laptop) -> None:
    server_acts = [tuple(r) for r in server_rows(server_db, tenant_id, SERVER_ACTIVITIES)]
    server_hist = [(i, d, o, json.loads(c), u)
                   for i, d, o, c, u in server_rows(server_db, tenant_id, SERVER_HISTORY)]
    for laptop in laptops:
        assert [(i, d, k, b, bool(du), bool(do), c, bool(x))
                for i, d, k, b, du, do, c, x in laptop.rows(ACTIVITIES)] == server_acts
        assert [(i, d, o, json.loads(str(c)), u)
                for i, d, o, c, u in laptop.rows(HISTORY)] == server_hist


def test_activities_and_history_sync_between_two_laptops(live: Api, server_db: ServerDb,
                                                          tmp_path: Path) -> None:
    made = new_tenant(server_db, "Timeline Health", "ada@timeline.example")
    a = connect_laptop(live, tmp_path / "a", "ada@timeline.example")
    try:
        admin = a.session()
        rep = users.add_user(admin, "sam@timeline.example", "Sam", "Sales", "USER",
                             REP_PASSWORD)
        deal = deals.create_deal(admin, "Cardiology suite", "DRAFT", "100.00",
                                 {"mrn": "MRN-1"})
        note = activities.add_activity(admin, deal.id, "note", "Buyer wants a demo")
        task = activities.add_activity(admin, deal.id, "task", "Send the quote",
                                       due="2026-12-04")
        deals.update_deal(admin, deal.id, status="ACTIVE")
        # Before sync, the laptop's own history rows (with their audit rows).
        assert [e.op for e in timeline.deal_history(admin, deal.id)] == ["update", "create"]
        result = a.sync()
        assert result.verdicts == {"applied": 5}
        assert engine.pending_count(a.ws) == 0
        # The laptop's own rows gave way to the server's: one row per change, no twins.
        hist = timeline.deal_history(admin, deal.id)
        assert [e.op for e in hist] == ["update", "create"]
        assert hist[0].describe() == "Changed: Status: Draft → Active"
        assert hist[1].changes[-1].phi and hist[0].user_name == "Ada Admin"

        b = connect_laptop(live, tmp_path / "b", "sam@timeline.example", REP_PASSWORD,
                           approver=a)
        try:
            sam = b.session()
            # Bootstrap brought the activities and the history.
            same_activities_and_history(server_db, made.tenant_id, a, b)
            assert [e.activity.body for e in timeline.timeline(sam, deal.id)
                    if e.activity] == ["Send the quote", "Buyer wants a demo"]
            # Offline on both: the rep completes the task on the admin's deal (not theirs:
            # refused offline); the admin edits the note's text and adds a call.
            bobs = deals.create_deal(sam, "Rep's deal", "DRAFT", "5.00")
            activities.add_activity(sam, bobs.id, "call", "Left a voicemail")
            activities.edit_activity(admin, note.id, body="Buyer wants a demo on Friday")
            activities.edit_activity(admin, task.id, body="Send the signed quote")
            call = activities.add_activity(admin, deal.id, "call", "Called the buyer")
            assert b.sync().verdicts == {"applied": 2}
            a_result = a.sync()
            assert a_result.verdicts == {"applied": 3}
            b.sync()
            same_activities_and_history(server_db, made.tenant_id, a, b)
            # Last writer wins per field: two edits of one task, different fields.
            activities.complete_task(admin, task.id)
            activities.edit_activity(admin, task.id, due="2026-12-05")
            deals.update_deal(sam, bobs.id, title="Rep's deal, renamed")
            activities.delete_activity(admin, call.id)
            a.sync()
            b.sync()
            a.sync()
            same_activities_and_history(server_db, made.tenant_id, a, b)
            done = next(e.activity for e in timeline.timeline(sam, deal.id)
                    if e.activity and e.activity.id == task.id)
            assert done is not None and done.done_at is not None
            assert done.body == "Send the signed quote"
            assert call.id not in {e.activity.id for e in timeline.timeline(sam, deal.id)
                                   if e.activity}
            renamed = timeline.deal_history(admin, bobs.id)
            assert renamed[0].describe() == "Changed: Title: Rep's deal → Rep's deal, renamed"
            assert renamed[0].user_id == rep.id
            # Every change has exactly one history row on every side.
            counts = server_rows(server_db, made.tenant_id, "SELECT op, count(*) FROM "
                                 "deal_history WHERE tenant_id = %s GROUP BY op ORDER BY op")
            assert counts == [("create", 2), ("update", 2)]
        finally:
            b.close()
    finally:
        a.close()


def test_a_refused_activity_is_rejected_and_removed_from_view(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Refusal Health", "ada@refusal.example")
    a = connect_laptop(live, tmp_path / "a", "ada@refusal.example")
    try:
        admin = a.session()
        deal = deals.create_deal(admin, "Cardiology suite", "DRAFT", "100.00")
        a.sync()
        # The server deletes the deal meanwhile (another device): the laptop's new
        # activity on it is refused there.
        with server_db.app() as app:
            app.execute("SELECT set_tenant_context(%s)", (made.tenant_id,))
            app.execute("UPDATE deals SET deleted_at = now() WHERE id = %s", (deal.id,))
        late = activities.add_activity(admin, deal.id, "note", "Too late")
        result = a.sync()
        assert result.verdicts == {"rejected": 1}
        assert a.rows("SELECT code FROM sync_rejections") == [("deal_deleted",)]
        assert a.rows("SELECT deleted_at IS NOT NULL FROM deal_activities WHERE id = ?",
                      (late.id,)) == [(1,)]
        assert server_rows(server_db, made.tenant_id, "SELECT count(*) FROM deal_activities "
                           "WHERE tenant_id = %s") == [(0,)]
    finally:
        a.close()
