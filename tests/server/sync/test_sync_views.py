"""Saved views between laptops through the real server (issue 15): a rep saves a view on
one laptop and finds it, default and all, on another after sync; edits and deletes
follow; no other user ever receives it; a view another user saves on a laptop stays on
that laptop (the laptop syncs as its connection's user)."""

from __future__ import annotations

from pathlib import Path

from api_support import Api
from laptop_support import connect_laptop, new_tenant, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import auth, users, views
from closeplan_desktop.core.usecases.deal_list import DealQuery

REP_PASSWORD = "Marble-Kettle-Violin-77"
SERVER_VIEWS = ("SELECT user_id, name, is_default, deleted_at IS NOT NULL FROM saved_views "
                "WHERE tenant_id = %s ORDER BY name")


def names(session: object) -> list[str]:
    return [v.name for v in views.list_views(session) if not v.builtin]  # type: ignore[arg-type]


def test_a_reps_view_follows_them_to_another_laptop_and_nobody_else(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Views Health", "ada@views.example")
    a = connect_laptop(live, tmp_path / "a", "ada@views.example")
    try:
        admin = a.session()
        rep = users.add_user(admin, "sam@views.example", "Sam", "Sales", "USER",
                             REP_PASSWORD)
        views.save_view(admin, "Admin's pipeline", DealQuery(status=DealStatus.ACTIVE))
        a.sync()
        b = connect_laptop(live, tmp_path / "b", "sam@views.example", REP_PASSWORD,
                           approver=a)
        c = None
        try:
            sam = b.session()
            # The admin's view never reached the rep's laptop.
            assert names(sam) == [] and b.rows("SELECT count(*) FROM saved_views") == [(0,)]
            q = DealQuery(status=DealStatus.ACTIVE, search="cardio", sort="value")
            views.save_view(sam, "Cardiology", q)
            views.set_default(sam, "Cardiology")
            assert b.sync().verdicts == {"applied": 2}
            assert engine.pending_count(b.ws) == 0
            c = connect_laptop(live, tmp_path / "c", "sam@views.example", REP_PASSWORD,
                               approver=a)
            sam_c = c.session()
            found = views.default_view(sam_c)
            assert (found.name, found.query) == ("Cardiology", q)
            # Edits and deletes follow, last writer wins per view.
            views.rename_view(sam_c, "Cardiology", "Cardio, big first")
            c.sync()
            b.sync()
            assert names(b.session()) == ["Cardio, big first"]
            assert views.default_view(b.session()).name == "Cardio, big first"
            views.delete_view(b.session(), "Cardio, big first")
            b.sync()
            c.sync()
            assert names(c.session()) == []
            assert views.default_view(c.session()).name == views.ALL_DEALS
            # The admin's laptop never received the rep's view, nor any row of it.
            a.sync()
            assert names(a.session()) == ["Admin's pipeline"]
            assert a.rows("SELECT DISTINCT user_id FROM saved_views") == [(admin.user_id,)]
            # On the admin's laptop the rep saves a view: it stays there, never pushed.
            sam_on_a = auth.sign_in(a.ws, "sam@views.example", REP_PASSWORD)
            views.save_view(sam_on_a, "Local only", DealQuery())
            assert a.sync().verdicts == {}
            assert engine.pending_count(a.ws) == 0
            assert names(sam_on_a) == ["Local only"]
            rows = server_rows(server_db, made.tenant_id, SERVER_VIEWS)
            assert rows == [(admin.user_id, "Admin's pipeline", False, False),
                            (rep.id, "Cardio, big first", True, True)]
        finally:
            b.close()
            if c is not None:
                c.close()
    finally:
        a.close()

