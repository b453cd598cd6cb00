"""Tenant isolation as the API's role sees it: nothing without a context, nothing of
another tenant, and the seed's two queries as they are written."""

from __future__ import annotations

import psycopg
import pytest
from pg_support import ServerDb, Tenant, seed_sql
from psycopg import errors

from closeplan_desktop.core.domain.ids import new_id

# seed-schema.md, "Common Queries", verbatim (each statement as written there).
USER_AUTHENTICATION = [
    """-- Set tenant context for session
SELECT set_tenant_context($tenant_id);""",
    """-- Get user with tenant check
SELECT * FROM users
WHERE email = $email
  AND tenant_id = current_tenant_id();""",
]
DEAL_ACCESS = """-- Get deals with PHI access logging
SELECT d.*,
  decrypt_phi(d.phi) as decrypted_phi
FROM deals d
WHERE d.tenant_id = current_tenant_id()
  AND d.id = $deal_id;"""

PHI = {"patient_name": "Jane Roe", "mrn": "MRN-0042"}


@pytest.fixture(scope="module")
def two(server_db: ServerDb) -> tuple[Tenant, Tenant]:
    """Two tenants, each with a deal with PHI, a device and a session."""
    a, b = server_db.tenant("Acme"), server_db.tenant("Bravo")
    for t in (a, b):
        server_db.deal(t, PHI)
        with server_db.app() as app:
            app.execute("SELECT set_tenant_context(%s)", (t.id,))
            app.execute("INSERT INTO devices (tenant_id, id, user_id, name) VALUES "
                        "(current_tenant_id(), %s, %s, 'laptop')", (new_id(), t.admin_id))
            app.execute("INSERT INTO sessions (tenant_id, id, user_id, kind, token_hash, "
                        "expires_at) VALUES (current_tenant_id(), %s, %s, 'ACCESS', %s, "
                        "now() + interval '1 hour')", (new_id(), t.admin_id, new_id().encode()))
    return a, b


def tenant_tables(conn: psycopg.Connection) -> list[str]:
    """Every table of the schema but those closed to the app role."""
    rows = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = "
                        "'public'::regnamespace AND relkind = 'r' AND relname NOT IN "
                        "('alembic_version', 'email_directory', 'server_chain_heads', "
                        "'server_chain_links', 'setup_codes') "
                        "ORDER BY relname").fetchall()
    return [r[0] for r in rows]


def count(conn: psycopg.Connection, table: str, where: str = "", params: tuple = ()) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()
    return int(row[0]) if row else -1


def test_with_no_context_nothing_is_visible_or_writable(server_db: ServerDb,
                                                        two: tuple[Tenant, Tenant]) -> None:
    a, _ = two
    with server_db.superuser() as su, server_db.app() as app:
        assert len(tenant_tables(su)) == 17  # 0012-0015 added 4
        for table in tenant_tables(su):
            app.execute("SELECT 1")  # no set_tenant_context in this transaction
            assert count(app, table) == 0, table
        for table in ("tenants", "users", "deals", "devices", "sessions", "phi_keys"):
            assert count(su, table) > 0, table
        app.rollback()
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            app.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                        "created_by_id) VALUES (%s, %s, 'x', 'DRAFT', 1, %s)",
                        (a.id, new_id(), a.admin_id))


def test_another_tenants_rows_cannot_be_read_or_changed(server_db: ServerDb,
                                                        two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    b_deal = b.deals[0]
    with server_db.superuser() as su:
        names = tenant_tables(su)
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        # SELECT: only A's rows, and B's by id answers nothing.
        for table in names:
            column = "id" if table == "tenants" else "tenant_id"
            assert count(app, table, f"WHERE {column} <> %s", (a.id,)) == 0, table
        assert count(app, "deals", "WHERE id = %s", (b_deal,)) == 0
        assert count(app, "users", "WHERE email = %s", (b.admin_email,)) == 0
        # INSERT into B: refused by the policy's WITH CHECK.
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            app.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                        "created_by_id) VALUES (%s, %s, 'x', 'DRAFT', 1, %s)",
                        (b.id, new_id(), b.admin_id))
        app.rollback()
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        # UPDATE of B's row: no row matches.
        cur = app.execute("UPDATE deals SET title = 'taken' WHERE id = %s", (b_deal,))
        assert cur.rowcount == 0
        cur = app.execute("UPDATE users SET role = 'USER' WHERE tenant_id = %s", (b.id,))
        assert cur.rowcount == 0
        # UPDATE moving A's row into B: refused by WITH CHECK.
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            app.execute("UPDATE sessions SET tenant_id = %s", (b.id,))
        app.rollback()
        # DELETE of B's rows: none goes.
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        cur = app.execute("DELETE FROM sessions WHERE tenant_id = %s", (b.id,))
        assert cur.rowcount == 0
        cur = app.execute("DELETE FROM sessions")
        assert cur.rowcount == 1  # A's own
        app.rollback()
    with server_db.superuser() as su:
        assert count(su, "deals", "WHERE id = %s AND title = 'Cardiology suite'",
                     (b_deal,)) == 1
        assert count(su, "sessions", "WHERE tenant_id = %s", (b.id,)) == 1


def test_the_context_ends_with_its_transaction(server_db: ServerDb,
                                               two: tuple[Tenant, Tenant]) -> None:
    a, _ = two
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        assert app.execute("SELECT current_tenant_id()").fetchone() == (a.id,)
        app.commit()
        # After a local setting ended the session value is '' (hence the seed's NULLIF).
        assert app.execute("SELECT current_setting('app.tenant_id', true), "
                           "current_tenant_id()").fetchone() == ("", None)
        assert count(app, "deals") == 0
        app.rollback()
    with server_db.app() as fresh:
        # Never set in this session: NULL too.
        assert fresh.execute("SELECT current_tenant_id()").fetchone() == (None,)


def test_the_seeds_user_authentication_query_runs_verbatim(
        server_db: ServerDb, two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    with server_db.app() as app:
        # Sign-in finds the tenant first, through the directory.
        tenant_id = app.execute("SELECT tenant_for_email(%s)", (a.admin_email,)).fetchone()
        assert tenant_id == (a.id,)
        params = {"tenant_id": a.id, "email": a.admin_email}
        rows = []
        for statement in USER_AUTHENTICATION:
            rows = app.execute(seed_sql(statement), params).fetchall()
        assert len(rows) == 1
        names = [d.name for d in app.cursor().execute(
            seed_sql(USER_AUTHENTICATION[1]), params).description or []]
        user = dict(zip(names, rows[0], strict=True))
        assert (user["id"], user["tenant_id"], user["role"]) == (a.admin_id, a.id, "ADMIN")
        app.rollback()
        # The same email under another tenant's context: nothing.
        for statement in USER_AUTHENTICATION:
            rows = app.execute(seed_sql(statement),
                               {"tenant_id": b.id, "email": a.admin_email}).fetchall()
        assert rows == []
        app.rollback()


def test_the_seeds_deal_access_query_runs_verbatim_and_logs(
        server_db: ServerDb, two: tuple[Tenant, Tenant]) -> None:
    a, b = two
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s), set_user_context(%s)",
                    (a.id, a.admin_id))
        cur = app.execute(seed_sql(DEAL_ACCESS), {"deal_id": a.deals[0]})
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
        assert len(rows) == 1
        deal = dict(zip(names, rows[0], strict=True))
        assert deal["decrypted_phi"] == PHI
        assert deal["id"] == a.deals[0] and deal["tenant_id"] == a.id
        # Another tenant's deal by id: no row, so nothing decrypted and nothing logged.
        assert app.execute(seed_sql(DEAL_ACCESS), {"deal_id": b.deals[0]}).fetchall() == []
        logs = app.execute("SELECT deal_id, action, access_type, success, user_id FROM "
                           "access_logs WHERE deal_id IS NOT NULL").fetchall()
        assert logs == [(a.deals[0], "PHI_ACCESS", "READ", True, a.admin_id)]
        app.commit()
