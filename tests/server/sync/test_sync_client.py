"""The desktop's sync client end to end: laptops (real SQLCipher workspaces with their
own keyring entries) against one real server over PostgreSQL on 127.0.0.1. Enrolment
and approval, offline edits on each laptop, sync, and every laptop and the server
holding the same rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from api_support import Api
from laptop_support import connect_laptop, new_tenant, same_everywhere, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import AuthError, SignedOut, SyncError
from closeplan_desktop.core.security.passwords import check_password
from closeplan_desktop.core.store import bulk
from closeplan_desktop.core.sync import apply, engine
from closeplan_desktop.core.usecases import deal_list, deals, users


def test_two_laptops_enrol_edit_offline_and_converge(live: Api, server_db: ServerDb,
                                                     tmp_path: Path) -> None:
    made = new_tenant(server_db, "Converge Health", "ada@converge.example")
    a = connect_laptop(live, tmp_path / "a", "ada@converge.example")
    try:
        admin = a.session()  # offline sign-in with the key slot made at connect
        assert admin.tenant_id == made.tenant_id
        rep = users.add_user(admin, "sam@converge.example", "Sam", "Sales", "USER",
                             "Marble-Kettle-Violin-77")
        first = deals.create_deal(admin, "Cardiology suite", "ACTIVE", "1234.56",
                                  {"patient_name": "Jane Roe", "mrn": "MRN-1"})
        result = a.sync()
        assert a.rows("SELECT code, message FROM sync_rejections") == []
        assert result.pushed == 2 and result.verdicts == {"applied": 2}
        # The pull brought the server's versions of both rows back: announced.
        assert result.pulled >= 2 and {"deals", "users"} <= result.changed
        assert engine.pending_count(a.ws) == 0

        b = connect_laptop(live, tmp_path / "b", "sam@converge.example",
                           "Marble-Kettle-Violin-77", approver=a)
        try:
            assert b.code is not None and len(b.code) == 6 and b.code.isdigit()
            sam = b.session()
            assert sam.user_id == rep.id
            # The rep's laptop received the PHI key: the admin's PHI opens there (a
            # break-glass reveal, logged).
            assert deals.reveal_phi(sam, first.id, reason="covering for Ada")["mrn"] == "MRN-1"
            # Offline edits on both laptops.
            own = deals.create_deal(sam, "Rep's own deal", "DRAFT", "10.00", {"mrn": "R-2"})
            deals.update_deal(admin, first.id, title="Cardiology suite (renewal)")
            second = deals.create_deal(admin, "Clinic pilot", "ACTIVE", "99.99")
            deals.delete_deal(admin, second.id)
            assert b.sync().verdicts == {"applied": 1}
            assert a.sync().verdicts == {"applied": 3}
            b.sync()
            same_everywhere(server_db, made.tenant_id, a, b)
            assert deals.reveal_phi(admin, own.id) == {"mrn": "R-2"}
            assert deals.get_deal(sam, first.id).title == "Cardiology suite (renewal)"
            assert {"deals"} <= set().union(*b.announced)
            # Pulled rows never went into an outbox (no echo).
            assert engine.pending_count(b.ws) == 0
            assert b.rows("SELECT count(*) FROM outbox WHERE entity_id = ?",
                          (first.id,)) == [(0,)]
            # No password hash came down: the admin's row on the rep's laptop has none.
            hashed = b.rows("SELECT password FROM users WHERE id = ?", (admin.user_id,))
            assert hashed == [(apply.NO_PASSWORD,)]
            assert not check_password("Tangerine-Orbit-Ladder-42", str(hashed[0][0]))
        finally:
            b.close()
    finally:
        a.close()


def test_a_standalone_workspace_is_refused_sync(env: object) -> None:
    from support import Env
    assert isinstance(env, Env)
    with pytest.raises(SyncError, match="not connected"):
        engine.sync_once(env.ws)


def test_value_round_trips_exactly(live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = new_tenant(server_db, "Exact Money", "ada@exact.example")
    a = connect_laptop(live, tmp_path / "a", "ada@exact.example")
    try:
        admin = a.session()
        d = deals.create_deal(admin, "Big one", "ACTIVE", "12345678901.23")
        a.sync()
        value = server_rows(server_db, made.tenant_id,
                            "SELECT value FROM deals WHERE tenant_id = %s AND id = %s", (d.id,))
        assert value == [(Decimal("12345678901.23"),)]
    finally:
        a.close()


def test_the_first_load_builds_search_counters_and_indexes_after_the_rows(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    """Past the first screen (200 deals) the rows go in without secondary indexes and
    triggers; at the end the indexes are back, search finds every deal and the
    per-status counters count every deal, as on a workspace made locally."""
    made = new_tenant(server_db, "Bulk Load", "ada@bulk-load.example")
    with server_db.superuser() as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (made.tenant_id,))
        conn.execute(
            "INSERT INTO deals (tenant_id, id, title, status, value, created_by_id, "
            "deleted_at) SELECT %s, 'c' || lpad(to_hex(g), 24, '0'), 'Cardiology ' || g, "
            "(ARRAY['ACTIVE', 'DRAFT'])[1 + g %% 2]::deal_status, g, %s, "
            "CASE WHEN g %% 7 = 0 THEN now() END FROM generate_series(1, 450) g",
            (made.tenant_id, made.admin_id))
    a = connect_laptop(live, tmp_path / "a", "ada@bulk-load.example")
    try:
        schema = "SELECT type, name FROM sqlite_master WHERE tbl_name = 'deals' ORDER BY 2"
        assert a.rows(schema) == env_schema(tmp_path / "fresh", schema)
        assert a.rows("SELECT count(*) FROM deals_fts WHERE deals_fts MATCH 'cardiology'") \
            == [(450,)]
        assert a.rows("SELECT status, deleted, count, total FROM deal_stats ORDER BY 1, 2") == \
            a.rows("SELECT status, deleted_at IS NOT NULL, count(*), sum(value) FROM deals "
                   "GROUP BY 1, 2 ORDER BY 1, 2")
        assert a.rows("SELECT count(*) FROM workspace_meta WHERE key = ?",
                      (bulk.SUSPENDED,)) == [(0,)]
        totals = {r.status: r.count for r in deal_list.pipeline(a.session())}
        assert sum(totals.values()) == 450 - 450 // 7  # live deals, from the counters
    finally:
        a.close()


def env_schema(path: Path, query: str) -> list[tuple[object, ...]]:
    """The same query on a workspace made locally, for comparison."""
    from closeplan_desktop.core.store import workspace

    with workspace.create(path) as ws, ws.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(query).fetchall()]


def test_a_deactivation_reaches_the_other_laptops(live: Api, server_db: ServerDb,
                                                  tmp_path: Path) -> None:
    new_tenant(server_db, "Deactivate Co", "ada@deactivate.example")
    a = connect_laptop(live, tmp_path / "a", "ada@deactivate.example")
    try:
        admin = a.session()
        sam = users.add_user(admin, "sam@deactivate.example", "Sam", "Sales", "USER",
                             "Marble-Kettle-Violin-77")
        a.sync()
        b = connect_laptop(live, tmp_path / "b", "sam@deactivate.example",
                           "Marble-Kettle-Violin-77", approver=a)
        try:
            assert b.session().user_id == sam.id
            users.deactivate(admin, sam.id)
            a.sync()
            # Sam's own laptop: the server ends his session and says why; his laptop
            # deactivates him too, so he cannot sign in offline either.
            with pytest.raises(SignedOut, match="deactivated"):
                b.sync()
            with pytest.raises(AuthError):
                b.session()
            assert "users" in set().union(*b.announced)
        finally:
            b.close()
    finally:
        a.close()
