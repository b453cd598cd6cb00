"""A deal update the server rejects is put back on the laptop at once: the local row
becomes the server's (`GET /v1/sync/deals/{id}`) in the transaction that records the
verdict, with no outbox row. Real laptops against the real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api
from laptop_support import connect_laptop, new_tenant
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import ServerRefused
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import deals, users

REP_PASSWORD = "Marble-Kettle-Violin-77"
DEAL = "SELECT title, value, phi, row_version FROM deals WHERE id = ?"


def test_a_rejected_deal_update_is_reverted_in_the_verdicts_transaction(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Undo Health", "ada@undo.example")
    a = connect_laptop(live, tmp_path / "a", "ada@undo.example")
    admin = a.session()
    sam_info = users.add_user(admin, "sam@undo.example", "Sam", "Sales", "ADMIN",
                              REP_PASSWORD)
    d = deals.create_deal(admin, "Original", "ACTIVE", "100", {"mrn": "U-1"})
    a.sync()
    b = connect_laptop(live, tmp_path / "b", "sam@undo.example", REP_PASSWORD, approver=a)
    try:
        b.sync()
        before = b.rows(DEAL, (d.id,))
        # Sam edits Ada's deal offline while still an admin here...
        sam = b.session()
        deals.update_deal(sam, d.id, title="Sam's title", value="999",
                          phi={"mrn": "SAM"})
        assert b.rows("SELECT title FROM deals WHERE id = ?", (d.id,)) == [("Sam's title",)]
        # ...and Ada demotes him on the server meanwhile: his edit is refused there.
        users.set_role(a.session(), sam_info.id, "USER")
        a.sync()
        outbox = b.rows("SELECT count(*) FROM outbox")
        conn = engine.require_connected(b.ws)
        result = engine.SyncResult()
        engine.push(b.ws, b.transport, conn, result, sleep=lambda _: None)  # no pull
        assert result.rejections == 1
        # Back to the server's row at once, PHI envelope and version included.
        assert b.rows(DEAL, (d.id,)) == before
        assert b.rows("SELECT count(*) FROM outbox") == outbox  # no outbox row added
        assert b.rows("SELECT count(*) FROM outbox WHERE acked_at IS NULL") == [(0,)]
        ((code, table, row_id),) = b.rows("SELECT code, table_name, row_id FROM "
                                          "sync_rejections")
        assert (code, table, row_id) == ("forbidden", "deals", d.id)
    finally:
        a.close()
        b.close()


def test_one_deal_is_read_under_the_callers_tenant(live: Api, server_db: ServerDb,
                                                  tmp_path: Path) -> None:
    new_tenant(server_db, "One Health", "ada@one.example")
    new_tenant(server_db, "Other Health", "ada@other.example")
    a = connect_laptop(live, tmp_path / "a", "ada@one.example")
    o = connect_laptop(live, tmp_path / "o", "ada@other.example")
    try:
        d = deals.create_deal(a.session(), "Mine", "ACTIVE", "5", {"mrn": "O-1"})
        a.sync()
        row = a.transport.call("GET", f"/v1/sync/deals/{d.id}")
        assert (row["id"], row["title"], row["phi_key_version"]) == (d.id, "Mine", 1)
        for laptop, deal_id in ((o, d.id), (a, new_id())):
            with pytest.raises(ServerRefused) as refused:
                laptop.transport.call("GET", f"/v1/sync/deals/{deal_id}")
            assert (refused.value.status, refused.value.code) == (404, "unknown_deal")
        with pytest.raises(ServerRefused) as bad:
            a.transport.call("GET", "/v1/sync/deals/not-an-id")
        assert bad.value.status == 422 or bad.value.status == 400
    finally:
        a.close()
        o.close()
