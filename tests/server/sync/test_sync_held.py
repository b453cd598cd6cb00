"""A pulled row this laptop had also changed is held (push goes first), and must come
back once the change is answered, whatever the verdict: found by the property test,
where a long-poll pulled between an offline edit and its push (the pull's cursor moved
past the held row, and a verdict that changed nothing on the server never sent it
again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api
from fault_support import Arrivals, Crash, faulty_transport
from laptop_support import Laptop, connect_laptop, new_tenant, same_everywhere
from pg_support import ServerDb

from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import deals, users

MAX_PASSWORD = "Quartz-Pelican-Harbor-58"


def _pair(live: Api, server_db: ServerDb, tmp_path: Path, tag: str
          ) -> tuple[str, Laptop, Laptop]:
    made = new_tenant(server_db, f"Held {tag}", f"ada@{tag}.example")
    a = connect_laptop(live, tmp_path / "a", f"ada@{tag}.example")
    users.add_user(a.session(), f"max@{tag}.example", "Max", "Admin", "ADMIN", MAX_PASSWORD)
    a.sync()
    b = connect_laptop(live, tmp_path / "b", f"max@{tag}.example", MAX_PASSWORD, approver=a)
    return made.tenant_id, a, b


def test_an_edit_held_by_a_long_poll_then_beaten_by_a_delete_converges(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    tenant_id, a, b = _pair(live, server_db, tmp_path, "heldelete")
    try:
        deal = deals.create_deal(a.session(), "Shared", "ACTIVE", "10.00")
        a.sync()
        b.sync()
        deals.delete_deal(a.session(), deal.id)
        a.sync()
        deals.update_deal(b.session(), deal.id, title="Edited offline")
        assert engine.wait_for_changes(b.ws, b.transport, 0).held == 1  # the delete waits
        # The next long-poll waits for new changes: it does not read the held row again.
        assert engine.wait_for_changes(b.ws, b.transport, 0).pulled == 0
        assert b.sync().conflicts == 1  # delete beats the edit: nothing changed there
        assert b.rows("SELECT title, deleted_at IS NOT NULL FROM deals WHERE id = ?",
                      (deal.id,)) == [("Shared", 1)]
        same_everywhere(server_db, tenant_id, a, b)
    finally:
        b.close()
        a.close()


def test_a_push_answered_only_by_its_replay_after_a_long_poll_converges(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    tenant_id, a, b = _pair(live, server_db, tmp_path, "heldreplay")
    try:
        deal = deals.create_deal(a.session(), "Shared", "ACTIVE", "10.00")
        a.sync()
        b.sync()
        deals.update_deal(a.session(), deal.id, status="CLOSED_WON")
        a.sync()
        deals.update_deal(b.session(), deal.id, title="Renamed by Max")
        url = engine.require_connected(b.ws).url
        b.transport.close()
        b.transport, faults = faulty_transport(url, b.ws.keyring, b.ws.device_id, Arrivals())
        faults.arm("crash", "/v1/sync/push")  # applied (merged), then the laptop dies
        with pytest.raises(Crash):
            b.sync()
        assert engine.wait_for_changes(b.ws, b.transport, 0).held == 1
        assert b.sync().verdicts == {"duplicate": 1}
        assert b.rows("SELECT title, status FROM deals WHERE id = ?", (deal.id,)) == [
            ("Renamed by Max", "CLOSED_WON")]
        a.sync()
        same_everywhere(server_db, tenant_id, a, b)
    finally:
        b.close()
        a.close()
