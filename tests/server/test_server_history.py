"""Deal history and activities on the server (migration 0011): every write to a deal,
whatever path made it, records its history in the same transaction (PHI only as
"changed"); history is append-only for the API's role; both tables are isolated per
tenant and stamped for pull."""

from __future__ import annotations

from typing import Any

import pytest
from pg_support import ServerDb, Tenant
from psycopg import errors

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto

PHI = {"patient_name": "Odile Brennan-Kask", "mrn": "MRN-909090"}


def history(server_db: ServerDb, t: Tenant, deal_id: str) -> list[tuple[Any, ...]]:
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        return app.execute("SELECT op, changes, user_id, row_version > 0 FROM deal_history "
                           "WHERE deal_id = %s ORDER BY row_version, id", (deal_id,)).fetchall()


def test_each_kind_of_write_records_one_history_row(server_db: ServerDb) -> None:
    t = server_db.tenant("Hist")
    deal = server_db.deal(t, title="Pilot", value="10.00")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s), set_user_context(%s)", (t.id, t.admin_id))
        app.execute("UPDATE deals SET title = 'Pilot 2', value = 12.5 WHERE id = %s", (deal,))
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s), set_user_context(%s)", (t.id, t.admin_id))
        app.execute("UPDATE deals SET status = 'CLOSED_WON' WHERE id = %s", (deal,))
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("UPDATE deals SET updated_at = now() WHERE id = %s", (deal,))  # nothing
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("UPDATE deals SET deleted_at = now() WHERE id = %s", (deal,))
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("UPDATE deals SET deleted_at = NULL WHERE id = %s", (deal,))
    rows = history(server_db, t, deal)
    assert [r[0] for r in rows] == ["create", "update", "update", "delete", "restore"]
    assert rows[0][1] == [{"field": "title", "new": "Pilot"},
                          {"field": "status", "new": "ACTIVE"},
                          {"field": "value", "new": "10.00"}]
    assert rows[0][2] == t.admin_id  # no user context: the deal's creator
    assert rows[1][1] == [{"field": "title", "old": "Pilot", "new": "Pilot 2"},
                          {"field": "value", "old": "10.00", "new": "12.50"}]
    assert rows[1][2] == t.admin_id
    assert rows[2][1] == [{"field": "status", "old": "ACTIVE", "new": "CLOSED_WON"}]
    assert rows[3][1] == [] and rows[4][1] == []
    assert all(r[3] for r in rows)  # stamped: pull carries them


def test_phi_is_recorded_only_as_changed(server_db: ServerDb) -> None:
    t = server_db.tenant("Phi")
    deal = server_db.deal(t, PHI)
    resealed = crypto.encrypt_phi(t.phi_key, t.key_version, t.id, deal, {"mrn": "MRN-777"})
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("UPDATE deals SET phi = %s WHERE id = %s", (resealed, deal))
    rows = history(server_db, t, deal)
    assert rows[0][1][-1] == {"field": "phi", "changed": True}
    assert rows[1][1] == [{"field": "phi", "changed": True}]
    with server_db.superuser() as su:
        text = " ".join(str(r[0]) for r in su.execute("SELECT changes::text FROM deal_history"))
    assert "Odile" not in text and "MRN-" not in text and '"c":' not in text


def test_history_is_append_only_and_both_tables_are_isolated(server_db: ServerDb) -> None:
    a, b = server_db.tenant("Alpha"), server_db.tenant("Beta")
    a_deal, b_deal = server_db.deal(a), server_db.deal(b)
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        app.execute("INSERT INTO deal_activities (tenant_id, id, deal_id, kind, body, "
                    "created_by_id) VALUES (current_tenant_id(), %s, %s, 'NOTE', 'hello', %s)",
                    (new_id(), a_deal, a.admin_id))
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("UPDATE deal_history SET changes = '[]'")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("DELETE FROM deal_history")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (b.id,))
        assert app.execute("SELECT count(*) FROM deal_activities").fetchone() == (0,)
        assert app.execute("SELECT count(*) FROM deal_history WHERE deal_id = %s",
                           (a_deal,)).fetchone() == (0,)
        # B cannot hang an activity on A's deal (composite key), nor write into A.
        with pytest.raises(errors.ForeignKeyViolation):
            app.execute("INSERT INTO deal_activities (tenant_id, id, deal_id, kind, body, "
                        "created_by_id) VALUES (current_tenant_id(), %s, %s, 'NOTE', 'x', %s)",
                        (new_id(), a_deal, b.admin_id))
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (b.id,))
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            app.execute("INSERT INTO deal_activities (tenant_id, id, deal_id, kind, body, "
                        "created_by_id) VALUES (%s, %s, %s, 'NOTE', 'x', %s)",
                        (a.id, new_id(), a_deal, a.admin_id))
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (b.id,))
        with pytest.raises(errors.CheckViolation):
            app.execute("INSERT INTO deal_activities (tenant_id, id, deal_id, kind, body, "
                        "created_by_id) VALUES (current_tenant_id(), %s, %s, 'NOTE', %s, %s)",
                        (new_id(), b_deal, "x" * 1001, b.admin_id))
