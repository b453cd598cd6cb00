"""The server's own audit chain (migrations 0005, 0015): rows the server writes are
numbered and hash-chained per tenant and table, one link per statement (0015); rows a
device uploads keep their own chain; the app role cannot touch the head, the links or
the numbers; verify_server_chain finds an altered, removed, added, moved or cut row, in
the per-row part made before 0015 and in the linked part after it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from pg_support import Pg, ServerDb, Tenant

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.db import admin, migrate


def event(conn: psycopg.Connection, t: Tenant, kind: str = "LOGIN_SUCCESS") -> None:
    conn.execute("SELECT set_tenant_context(%s)", (t.id,))
    conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
                 "VALUES (current_tenant_id(), %s, %s, %s, '{}')", (new_id(), t.admin_id, kind))


def nth(table: str, n: int) -> str:
    """SQL for the server_seq of the tenant's n-th server row (1-based, chain order);
    its parameter is the tenant id."""
    return (f"(SELECT server_seq FROM {table} WHERE tenant_id = %s AND device_id IS NULL "
            f"ORDER BY server_seq OFFSET {n - 1} LIMIT 1)")


def links(su: psycopg.Connection, t: Tenant, table: str) -> list[tuple[int, int]]:
    """(link number, rows) of the tenant's links of `table`, read past RLS."""
    return [(r[0], r[1]) for r in su.execute(
        "SELECT link_no, row_count FROM server_chain_links WHERE tenant_id = %s AND "
        "table_name = %s ORDER BY link_no", (t.id, table))]


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
        seqs = [s[0] for s in conn.execute("SELECT server_seq FROM security_events WHERE "
                                           "tenant_id = %s ORDER BY timestamp", (a.id,))]
        assert len(seqs) == 3 and seqs == sorted(set(seqs))  # rising in write order
    with server_db.superuser() as su:
        assert links(su, a, "security_events") == [(1, 1), (2, 1), (3, 1)]
        assert links(su, b, "security_events") == [(1, 1)]


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
        conn.rollback()
        event(conn, t)
        conn.commit()
        for statement in ("UPDATE server_chain_links SET row_count = 0",
                          "DELETE FROM server_chain_links",
                          "SELECT count(*) FROM server_chain_links",
                          "INSERT INTO server_chain_links (tenant_id, table_name, link_no, xact, "
                          "first_seq, last_seq, row_count, rows_hash, prev_hash, hash) VALUES "
                          "(current_tenant_id(), 'access_logs', 9, '1', 1, 1, 1, '', '', '')"):
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
        # Nor choose the numbers of its rows (column grants).
        conn.execute("SELECT set_tenant_context(%s)", (t.id,))
        for column, value in (("server_seq", "1"), ("server_xact", "'1'")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"INSERT INTO security_events (tenant_id, id, user_id, type, "
                             f"{column}) VALUES (current_tenant_id(), %s, %s, 'X', {value})",
                             (new_id(), t.admin_id))
            conn.rollback()
            conn.execute("SELECT set_tenant_context(%s)", (t.id,))


@pytest.mark.parametrize("attack", ["alter", "remove_middle", "add", "move", "cut_tail"])
def test_verify_finds_tampering_done_behind_the_apps_back(server_db: ServerDb,
                                                          attack: str) -> None:
    t = server_db.tenant(f"Tamper{attack}")
    with server_db.app() as conn:
        for kind in ("LOGIN_SUCCESS", "LOGIN_FAILURE", "USER_CREATED"):
            event(conn, t, kind)
        # A fourth statement of two rows (a link of two).
        conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
                     "SELECT current_tenant_id(), %s || g, %s, 'LOGIN_SUCCESS', '{}' "
                     "FROM generate_series(1, 2) AS g", (new_id(), t.admin_id))
        conn.commit()
        assert verify(conn, t, "security_events")[:2] == (5, True)
    with server_db.superuser() as su:  # someone with the database's superuser password
        if attack == "alter":
            su.execute("UPDATE security_events SET type = 'LOGIN_SUCCESS' WHERE tenant_id = %s"
                       f" AND server_seq = {nth('security_events', 2)}", (t.id, t.id))
        elif attack == "remove_middle":
            su.execute("DELETE FROM security_events WHERE tenant_id = %s AND server_seq = "
                       f"{nth('security_events', 2)}", (t.id, t.id))
        elif attack == "add":  # a row of the same transaction, in no link
            su.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail, "
                       "server_seq, server_xact) SELECT tenant_id, 'forged', user_id, "
                       "'LOGIN_SUCCESS', '{}', server_seq + 1000000, server_xact FROM "
                       f"security_events WHERE tenant_id = %s AND server_seq = "
                       f"{nth('security_events', 2)}", (t.id, t.id))
        elif attack == "move":  # the second row into the fourth statement's link
            last = su.execute("SELECT xact, last_seq FROM server_chain_links WHERE "
                              "tenant_id = %s AND table_name = 'security_events' AND "
                              "link_no = 4", (t.id,)).fetchone()
            assert last is not None
            su.execute("UPDATE security_events SET server_xact = %s, server_seq = %s + 1 "
                       f"WHERE tenant_id = %s AND server_seq = {nth('security_events', 2)}",
                       (last[0], last[1], t.id, t.id))
            su.execute("UPDATE server_chain_links SET last_seq = last_seq + 1 "
                       "WHERE tenant_id = %s AND table_name = 'security_events' "
                       "AND link_no = 4", (t.id,))
        else:
            su.execute("DELETE FROM security_events WHERE tenant_id = %s AND server_seq = "
                       f"{nth('security_events', 5)}", (t.id, t.id))
    with server_db.app() as conn:
        _, intact, first_bad = verify(conn, t, "security_events")
    assert not intact
    # The position of the first row that does not agree; an added row outside every link
    # counts after the linked ones.
    assert first_bad == {"cut_tail": 4, "add": 6}.get(attack, 2)


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
            su.execute("UPDATE security_events SET detail = '{\"x\": 1}' WHERE tenant_id = %s "
                       f"AND server_seq = {nth('security_events', 1)}", (t.id, t.id))
        report = api.http.get("/v1/admin/audit/server-chain", headers=api.auth(token)).json()
        assert not report["intact"] and report["security_events"]["first_bad"] == 1


def test_many_rows_in_one_transaction_and_a_rolled_back_savepoint_keep_the_chain(
        server_db: ServerDb) -> None:
    """A savepoint rolled back in the middle takes its rows and their link back together."""
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
    """A multi-row INSERT numbers every row and links them in one link (0015); the next
    transaction continues from it."""
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
        ids = [r[0] for r in conn.execute("SELECT id FROM security_events "
                                          "ORDER BY server_seq")]
    assert ids[1:51] == [f"ev-{g}" for g in range(1, 51)]  # numbered in insertion order
    with server_db.superuser() as su:
        assert links(su, t, "security_events") == [(1, 1), (2, 50), (3, 1)]


@pytest.fixture(scope="module")
def switched(pg: Pg) -> Iterator[tuple[ServerDb, Tenant]]:
    """A database migrated to 0014 with a tenant's rows chained per row, then to the head
    (0015: links) with more rows written."""
    name = f"chain_switch_{secrets.token_hex(3)}"
    admin.create_database(pg.cluster.dsn(), name)
    db = ServerDb(pg, name)
    try:
        migrate.upgrade(pg.cluster.dsn(name), "0014")
        t = db.tenant("ChainSwitch")
        with db.app() as conn:
            for _ in range(3):
                event(conn, t)
            conn.commit()
        with db.superuser() as su:
            before = [r[0] for r in su.execute("SELECT server_seq FROM security_events "
                                               "WHERE tenant_id = %s ORDER BY 1", (t.id,))]
        assert before == [1, 2, 3]  # 0014's per-row chain
        migrate.upgrade(pg.cluster.dsn(name))
        with db.app() as conn:
            event(conn, t)
            event(conn, t)
            conn.commit()
        yield db, t
    finally:
        db.close()
        admin.drop_database(pg.cluster.dsn(), name)


def test_rows_chained_per_row_before_0015_stay_verifiable_with_the_links_after(
        switched: tuple[ServerDb, Tenant]) -> None:
    db, t = switched
    with db.superuser() as su:
        assert links(su, t, "security_events") == [(1, 1), (2, 1)]
        first_prev = su.execute("SELECT prev_hash FROM server_chain_links WHERE tenant_id = %s "
                                "AND link_no = 1", (t.id,)).fetchone()
        head = su.execute("SELECT head FROM server_chain_heads WHERE tenant_id = %s AND "
                          "table_name = 'security_events'", (t.id,)).fetchone()
    assert first_prev == head  # the links continue from the per-row chain's head
    with db.app() as conn:
        assert verify(conn, t, "security_events") == (5, True, None)


@pytest.mark.parametrize("row", [2, 4])
def test_a_row_altered_on_either_side_of_the_switch_is_found(
        switched: tuple[ServerDb, Tenant], row: int) -> None:
    db, t = switched
    with db.superuser() as su, su.transaction(force_rollback=True):
        su.execute("UPDATE security_events SET type = 'TAMPERED' WHERE tenant_id = %s AND "
                   f"server_seq = {nth('security_events', row)}", (t.id, t.id))
        su.execute("SELECT set_tenant_context(%s)", (t.id,))
        got = su.execute("SELECT * FROM verify_server_chain('security_events')").fetchone()
    assert got is not None and got[1:] == (False, row)
