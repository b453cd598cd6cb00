"""Issue 15 end to end, through the real server: a rep's laptop hands a deal to another
rep; that rep's laptop syncs and reveals its PHI without break-glass, while the first
rep (its creator) now needs break-glass. The close date and probability travel too,
and both laptops end with the server's values and history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from api_support import Api
from laptop_support import connect_laptop, new_tenant, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import BreakGlassRequired, PermissionDenied
from closeplan_desktop.core.usecases import deal_list, deals, timeline, users
from closeplan_desktop.core.usecases.deal_list import DealQuery

REP_PASSWORD = "Marble-Kettle-Violin-77"
PHI = {"patient_name": "Ines Okafor-Lindqvist", "mrn": "MRN-5150"}
OWNERS = "SELECT id, owner_id, created_by_id, expected_close_date, probability FROM deals"
SERVER_OWNERS = ("SELECT id, owner_id, created_by_id, expected_close_date::text, probability "
                 "FROM deals WHERE tenant_id = %s ORDER BY id")


def test_a_reassigned_deal_moves_its_phi_rights_to_the_new_owner(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Handover Health", "ada@handover.example")
    hq = connect_laptop(live, tmp_path / "hq", "ada@handover.example")
    try:
        admin = hq.session()
        amy = users.add_user(admin, "amy@handover.example", "Amy", "Ames", "USER",
                             REP_PASSWORD)
        ben = users.add_user(admin, "ben@handover.example", "Ben", "Brook", "USER",
                             REP_PASSWORD)
        hq.sync()
        a = connect_laptop(live, tmp_path / "a", "amy@handover.example", REP_PASSWORD,
                           approver=hq)
        b = connect_laptop(live, tmp_path / "b", "ben@handover.example", REP_PASSWORD,
                           approver=hq)
        try:
            amy_s, ben_s = a.session(), b.session()
            deal = deals.create_deal(amy_s, "Dialysis chairs", "ACTIVE", "9000.00", PHI,
                                     expected_close_date="2027-04-30", probability=60)
            assert a.sync().verdicts == {"applied": 1}
            b.sync()
            with pytest.raises(BreakGlassRequired):
                deals.reveal_phi(ben_s, deal.id)
            # Amy hands the deal to Ben on her laptop, then syncs.
            moved = deals.reassign_deal(amy_s, deal.id, ben.id)
            assert (moved.owner_id, moved.created_by_id) == (ben.id, amy.id)
            assert a.sync().verdicts == {"applied": 1}
            b.sync()
            on_b = deals.get_deal(ben_s, deal.id)
            assert (on_b.owner_id, on_b.owner_name) == (ben.id, "Ben Brook")
            assert (on_b.expected_close_date, on_b.probability) == (date(2027, 4, 30), 60)
            assert deals.reveal_phi(ben_s, deal.id) == PHI  # no reason needed now
            assert [d.id for d in deal_list.list_deals(ben_s, DealQuery(owner_id=ben.id))] \
                == [deal.id]
            # Amy created it but no longer owns it: break-glass (logged) and no edits.
            with pytest.raises(BreakGlassRequired):
                deals.reveal_phi(amy_s, deal.id)
            assert deals.reveal_phi(amy_s, deal.id, reason="Ben asked me to check") == PHI
            with pytest.raises(PermissionDenied):
                deals.update_deal(amy_s, deal.id, probability=10)
            # Ben edits; every laptop and the server agree on the new fields.
            deals.update_deal(ben_s, deal.id, probability=None, expected_close_date="2027-05-15")
            assert b.sync().verdicts == {"applied": 1}
            a.sync()
            hq.sync()
            server = [tuple(r) for r in server_rows(server_db, made.tenant_id, SERVER_OWNERS)]
            assert server == [(deal.id, ben.id, amy.id, "2027-05-15", None)]
            for laptop in (hq, a, b):
                assert [tuple(r) for r in laptop.rows(OWNERS)] == server
            words = [h.describe() for h in timeline.deal_history(amy_s, deal.id)]
            assert words[:2] == [
                "Changed: Expected close: 30 Apr 2027 → 15 May 2027; "
                "Probability: 60% → status default",
                "Changed: Owner: Amy Ames → Ben Brook"]
            assert a.rows("SELECT count(*) FROM access_logs WHERE deal_id = ? AND reason = ?",
                          (deal.id, "Ben asked me to check")) == [(1,)]
        finally:
            a.close()
            b.close()
    finally:
        hq.close()


def test_a_reassign_the_server_refuses_is_a_rejection_the_laptop_shows(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    """Amy reassigns offline a deal the admin meanwhile took over on the server: the
    server (which trusts no client) refuses it, and her laptop keeps the verdict."""
    new_tenant(server_db, "Refuse Health", "ada@refuse.example")
    hq = connect_laptop(live, tmp_path / "hq", "ada@refuse.example")
    try:
        admin = hq.session()
        users.add_user(admin, "amy@refuse.example", "Amy", "Ames", "USER", REP_PASSWORD)
        ben = users.add_user(admin, "ben@refuse.example", "Ben", "Brook", "USER",
                             REP_PASSWORD)
        hq.sync()
        a = connect_laptop(live, tmp_path / "a", "amy@refuse.example", REP_PASSWORD,
                           approver=hq)
        try:
            amy_s = a.session()
            deal = deals.create_deal(amy_s, "Infusion pumps", "DRAFT", "10.00")
            a.sync()
            hq.sync()
            deals.reassign_deal(admin, deal.id, admin.user_id)
            hq.sync()
            deals.reassign_deal(amy_s, deal.id, ben.id)  # offline: still hers here
            result = a.sync()
            assert result.verdicts == {"rejected": 1}
            assert a.rows("SELECT code FROM sync_rejections") == [("forbidden",)]
            assert deals.get_deal(amy_s, deal.id).owner_id == admin.user_id
        finally:
            a.close()
    finally:
        hq.close()
