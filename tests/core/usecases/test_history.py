"""Deal history (issue 15): each kind of change writes one history row in the change's
transaction, old and new values for plain fields, only "PHI changed" for PHI, and the
audit row of the change points to it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from support import Env, sql

from closeplan_desktop.core.domain.errors import NotFoundError, PermissionDenied
from closeplan_desktop.core.usecases import deal_import, deals, timeline

PHI = {"patient_name": "Quilla Marchetti-Fenn", "mrn": "MRN-445566"}


def history_rows(env: Env, deal_id: str) -> list[tuple[str, list[dict[str, object]]]]:
    env.ws.engine.dispose()
    found = sql(env.path, "SELECT op, changes FROM deal_history WHERE deal_id = ? "
                          "ORDER BY created_at, id", (deal_id,))
    return [(str(op), json.loads(str(changes))) for op, changes in found]


def test_each_kind_of_change_writes_one_history_row(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    deals.update_deal(env.user, deal.id, title="Clinic pilot, phase 2", value="250.50")
    deals.update_deal(env.user, deal.id, status="ACTIVE")
    deals.update_deal(env.user, deal.id, phi=PHI)
    deals.update_deal(env.user, deal.id, title="Clinic pilot, phase 2")  # no change
    deals.delete_deal(env.user, deal.id)
    deals.restore_deal(env.admin, deal.id)
    got = history_rows(env, deal.id)
    assert [op for op, _ in got] == ["create", "update", "update", "update", "update",
                                     "delete", "restore"]
    assert got[0][1] == [{"field": "title", "new": "Clinic pilot"},
                         {"field": "status", "new": "DRAFT"},
                         {"field": "value", "new": "100.00"}]
    assert got[1][1] == [{"field": "title", "old": "Clinic pilot", "new": "Clinic pilot, phase 2"},
                         {"field": "value", "old": "100.00", "new": "250.50"}]
    assert got[2][1] == [{"field": "status", "old": "DRAFT", "new": "ACTIVE"}]
    assert got[3][1] == [{"field": "phi", "changed": True}]
    assert got[4][1] == []
    assert got[5][1] == [] and got[6][1] == []
    # No PHI value or envelope in any history row.
    env.ws.engine.dispose()
    stored = " ".join(str(r[0]) for r in sql(env.path, "SELECT changes FROM deal_history"))
    assert "Quilla" not in stored and "MRN-445566" not in stored and '"c":' not in stored


def test_create_with_phi_and_import_record_history(env: Env) -> None:
    deal = deals.create_deal(env.admin, "Big renewal", "ACTIVE", "9.99", phi=PHI)
    assert history_rows(env, deal.id)[0][1][-1] == {"field": "phi", "changed": True}
    rows = deal_import.parse_import(
        b"title,status,value,phi_patient_name\nImported one,DRAFT,1.00,Ann Example\n"
        b"Imported two,ACTIVE,2.50,\n")
    assert deal_import.import_deals(env.admin, rows) == 2
    env.ws.engine.dispose()
    found = {str(t): json.loads(str(c)) for t, c in sql(
        env.path, "SELECT d.title, h.changes FROM deal_history h JOIN deals d "
                  "ON d.id = h.deal_id WHERE h.op = 'create' AND d.title LIKE 'Imported%'")}
    assert found["Imported one"] == [{"field": "title", "new": "Imported one"},
                                    {"field": "status", "new": "DRAFT"},
                                    {"field": "value", "new": "1.00"},
                                    {"field": "phi", "changed": True}]
    assert found["Imported two"][-1] == {"field": "value", "new": "2.50"}


def test_refused_change_writes_no_history(env: Env) -> None:
    deal = deals.create_deal(env.admin, "Admin's deal", "DRAFT", "1.00")
    with pytest.raises(PermissionDenied):
        deals.update_deal(env.user, deal.id, title="Not allowed")
    assert [op for op, _ in history_rows(env, deal.id)] == ["create"]


def test_history_reads_newest_first_and_audit_row_points_to_it(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    deals.update_deal(env.user, deal.id, status="ACTIVE", phi=PHI)
    entries = timeline.deal_history(env.admin, deal.id)
    assert [e.op for e in entries] == ["update", "create"]
    assert entries[0].describe() == "Changed: Status: Draft → Active; PHI changed"
    assert entries[0].user_name == "Bob Sales"
    env.ws.engine.dispose()
    log_id = str(sql(env.path, "SELECT id FROM access_logs WHERE deal_id = ? AND "
                               "action = 'DEAL_UPDATE'", (deal.id,))[0][0])
    assert timeline.history_for_audit_row(env.admin, log_id) == (deal.id, entries[0].id)
    with pytest.raises(NotFoundError):
        timeline.history_for_audit_row(env.admin, "c" + "0" * 24)


def test_timeline_mixes_activities_and_history_newest_first_paged(env: Env) -> None:
    from closeplan_desktop.core.usecases import activities
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    activities.add_activity(env.user, deal.id, "call", "Called the buyer")
    deals.update_deal(env.user, deal.id, status="ACTIVE")
    activities.add_activity(env.user, deal.id, "task", "Send the quote", due=date(2026, 1, 5))
    page = timeline.timeline(env.user, deal.id, 0, 3)
    assert [(e.activity.body if e.activity else e.history.op) for e in page
            if e.activity or e.history] == ["Send the quote", "update", "Called the buyer"]
    rest = timeline.timeline(env.user, deal.id, 3, 3)
    assert [e.history.op for e in rest if e.history] == ["create"]
    with pytest.raises(NotFoundError):
        timeline.timeline(env.user, "c" + "1" * 24)
