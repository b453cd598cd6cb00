"""The server's own audit chain (migration 0005): rows the server writes are numbered and
hash-chained per tenant and table; rows a device uploads keep their own chain; the app
role cannot touch the head; verify_server_chain finds an altered, removed or cut row."""

from __future__ import annotations

import psycopg
import pytest
from pg_support import ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id


def event(conn: psycopg.Connection, t: Tenant, kind: str = "LOGIN_SUCCESS") -> None:
    conn.execute("SELECT set_tenant_context(%s)", (t.id,))
    conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
                 "VALUES (current_tenant_id(), %s, %s, %s, '{}')", (new_id(), t.admin_id, kind))


def verify(conn: psycopg.Connection, t: Tenant, table: str) -> tuple[int, bool, int | None]:
    conn.execute("SELECT set_tenant_context(%s)", (t.id,))
    row = conn.execute("SELECT * FROM verify_server_chain(%s)", (table,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_server_rows_are_numbered_and_chained_per_tenant(server_db: ServerDb) -> None:
    a, b = server_db.tenant("ChainA"), server_db.tenant("ChainB")
    with server_db.app() as conn:
        for _ in range(3):
            event(conn, a)
        event(conn, b)
        conn.commit()
        assert verify(conn, a, "security_events")[:2] == (3, True)
        assert verify(conn, b, "security_events")[:2] == (1, True)
        conn.execute("SELECT set_tenant_context(%s)", (a.id,))
        seqs = conn.execute("SELECT server_seq FROM security_events WHERE tenant_id = %s "
                            "ORDER BY server_seq", (a.id,)).fetchall()
        assert [s[0] for s in seqs] == [1, 2, 3]


def test_decrypt_phi_log_rows_join_the_chain(server_db: ServerDb) -> None:
    t = server_db.tenant("ChainPhi")
    deal = server_db.deal(t, {"patient_name": "Pat Example"})
    with server_db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s), set_user_context(%s)", (t.id, t.admin_id))
        conn.execute("SELECT decrypt_phi(phi) FROM deals WHERE id = %s", (deal,)).fetchone()
        conn.commit()
        rows, intact, _ = verify(conn, t, "access_logs")
    assert rows == 1 and intact


def test_the_app_role_cannot_reach_the_head(server_db: ServerDb) -> None:
    t = server_db.tenant("ChainHead")
    with server_db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (t.id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE server_chain_heads SET seq = 0")
        conn.rollback()
        conn.execute("SELECT set_tenant_context(%s)", (t.id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM security_events")


@pytest.mark.parametrize("attack", ["alter", "remove_middle", "cut_tail"])
def test_verify_finds_tampering_done_behind_the_apps_back(server_db: ServerDb,
                                                          attack: str) -> None:
    t = server_db.tenant(f"Tamper{attack}")
    with server_db.app() as conn:
        for kind in ("LOGIN_SUCCESS", "LOGIN_FAILURE", "USER_CREATED"):
            event(conn, t, kind)
        conn.commit()
    with server_db.superuser() as su:  # someone with the database's superuser password
        if attack == "alter":
            su.execute("UPDATE security_events SET type = 'LOGIN_SUCCESS' WHERE tenant_id = %s"
                       " AND server_seq = 2", (t.id,))
        elif attack == "remove_middle":
            su.execute("DELETE FROM security_events WHERE tenant_id = %s AND server_seq = 2",
                       (t.id,))
        else:
            su.execute("DELETE FROM security_events WHERE tenant_id = %s AND server_seq = 3",
                       (t.id,))
    with server_db.app() as conn:
        _, intact, first_bad = verify(conn, t, "security_events")
    assert not intact
    assert first_bad == (3 if attack == "cut_tail" else 2)


def test_an_admin_checks_the_chain_over_http(server_db: ServerDb) -> None:
    from api_support import serve

    password = "correct horse battery staple 42"
    t = server_db.tenant("ChainHttp", password=password)
    _, email = server_db.user(t, password=password)
    with serve(server_db) as api:
        token = api.sign_in(t.admin_email, password)["access_token"]  # writes LOGIN_SUCCESS
        report = api.http.get("/v1/admin/audit/server-chain", headers=api.auth(token)).json()
        assert report["intact"] and report["security_events"]["rows"] >= 1
        user_token = api.sign_in(email, password)["access_token"]
        refused = api.http.get("/v1/admin/audit/server-chain", headers=api.auth(user_token))
        assert refused.status_code == 403
        with server_db.superuser() as su:
            su.execute("UPDATE security_events SET detail = '{}' WHERE tenant_id = %s "
                       "AND server_seq = 1", (t.id,))
        report = api.http.get("/v1/admin/audit/server-chain", headers=api.auth(token)).json()
        assert not report["intact"] and report["security_events"]["first_bad"] == 1


def test_many_rows_in_one_transaction_and_a_rolled_back_savepoint_keep_the_chain(
        server_db: ServerDb) -> None:
    """The chain keeps its head for the transaction (0009); a savepoint rolled back in
    the middle takes its rows and the cached head back together."""
    t = server_db.tenant("ChainTxn")
    with server_db.app() as conn:
        for _ in range(3):
            event(conn, t)
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction():
            event(conn, t)
            conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type) VALUES "
                         "(current_tenant_id(), %s, 'no-such-user', 'X')", (new_id(),))
        for _ in range(2):
            event(conn, t)
        conn.commit()
        rows, intact, _ = verify(conn, t, "security_events")
        assert (rows, intact) == (5, True)
    with server_db.app() as conn:  # the next transaction continues from the head
        event(conn, t)
        conn.commit()
        assert verify(conn, t, "security_events")[:2] == (6, True)


def test_one_statement_of_many_rows_chains_each_and_writes_the_head(
        server_db: ServerDb) -> None:
    """A multi-row INSERT numbers and chains every row, and its head is written at the
    statement's end (0010), so the next transaction continues from it."""
    t = server_db.tenant("ChainStatement")
    with server_db.app() as conn:
        event(conn, t)
        conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
                     "SELECT current_tenant_id(), 'ev-' || g, %s, 'LOGIN_SUCCESS', '{}' "
                     "FROM generate_series(1, 50) AS g", (t.admin_id,))
        conn.commit()
        assert verify(conn, t, "security_events")[:2] == (51, True)
    with server_db.app() as conn:
        event(conn, t)
        conn.commit()
        assert verify(conn, t, "security_events")[:2] == (52, True)
        seqs = [r[0] for r in conn.execute("SELECT server_seq FROM security_events "
                                           "ORDER BY server_seq")]
    assert seqs == list(range(1, 53))
