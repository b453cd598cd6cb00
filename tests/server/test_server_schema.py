"""The server schema as PostgreSQL holds it: RLS on every table the API can reach, roles
that cannot bypass it, the owner owning everything, the seed's names and the desktop's
columns, composite keys, exact money."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from pg_support import ServerDb
from psycopg import errors

from closeplan_desktop.core.domain import enums
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.store import models
from closeplan_desktop.server.db import migrate
from closeplan_desktop.server.db.admin import APP_ROLE, OWNER_ROLE

# Tables that are not tenant tables: the API's role must have no privilege on them.
CLOSED = {"alembic_version", "email_directory", "server_chain_heads", "server_chain_links",
          "setup_codes"}
POLICY = "(tenant_id = current_tenant_id())"
PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"


def tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                        " AND relkind IN ('r', 'p') ORDER BY relname").fetchall()
    return [r[0] for r in rows]


def test_the_schema_is_at_the_head_of_its_history(server_db: ServerDb) -> None:
    assert migrate.current(server_db.pg.cluster.dsn(server_db.name)) == "0017"


def test_every_table_the_app_can_reach_has_forced_rls_and_the_tenant_policy(
        server_db: ServerDb) -> None:
    with server_db.superuser() as conn:
        names = tables(conn)
        assert {"tenants", "users", "deals", "access_logs", "security_events"} <= set(names)
        problems = []
        for name in names:
            reachable = conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                     (APP_ROLE, f"public.{name}", PRIVILEGES)).fetchone()
            rls, force = conn.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                                      "WHERE oid = %s::regclass", (f"public.{name}",)).fetchone()
            policies = conn.execute("SELECT cmd, permissive, roles::text[], qual, with_check "
                                    "FROM pg_policies WHERE schemaname = 'public' AND "
                                    "tablename = %s", (name,)).fetchall()
            if name in CLOSED:
                if reachable[0]:
                    problems.append(f"{name}: the app role has a privilege on it")
                continue
            column_policy = "(id = current_tenant_id())" if name == "tenants" else POLICY
            if not (rls and force):
                problems.append(f"{name}: RLS enabled={rls} forced={force}")
            if policies != [("ALL", "PERMISSIVE", ["public"], column_policy, column_policy)]:
                problems.append(f"{name}: policies {policies}")
        assert not problems, "\n".join(problems)
        # No view could read around a policy.
        views = conn.execute("SELECT relname FROM pg_class WHERE relnamespace = "
                             "'public'::regnamespace AND relkind IN ('v', 'm')").fetchall()
        assert views == []


def test_the_app_role_cannot_bypass_row_level_security(server_db: ServerDb) -> None:
    with server_db.superuser() as conn:
        row = conn.execute("SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole, "
                           "rolcreatedb FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
                           ).fetchone()
        assert row == (False, False, True, False, False)
        owner = conn.execute("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles "
                             "WHERE rolname = %s", (OWNER_ROLE,)).fetchone()
        assert owner == (False, False, False)
        # Member of no role at all (so not of the owner, nor of a predefined role).
        member_of = conn.execute("SELECT rolname FROM pg_roles WHERE rolname <> %s AND "
                                 "pg_has_role(%s, oid, 'MEMBER')",
                                 (APP_ROLE, APP_ROLE)).fetchall()
        assert member_of == []
        owned = conn.execute(
            "SELECT count(*) FROM (SELECT relowner AS o FROM pg_class UNION ALL "
            "SELECT proowner FROM pg_proc UNION ALL SELECT typowner FROM pg_type UNION ALL "
            "SELECT nspowner FROM pg_namespace UNION ALL SELECT datdba FROM pg_database) x "
            "WHERE o = %s::regrole", (APP_ROLE,)).fetchone()
        assert owned == (0,)
    with server_db.app() as app:
        for statement in (f"SET ROLE {OWNER_ROLE}", "ALTER TABLE deals DISABLE ROW LEVEL SECURITY",
                          "ALTER TABLE deals NO FORCE ROW LEVEL SECURITY",
                          "DROP POLICY tenant_isolation ON deals"):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(statement)
            app.rollback()
        app.execute("SET row_security = off")
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            app.execute("SELECT * FROM deals")


def test_the_owner_owns_every_object(server_db: ServerDb) -> None:
    with server_db.superuser() as conn:
        others = conn.execute(
            "SELECT 'table ' || relname, pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relowner <> %(o)s::regrole "
            "UNION ALL SELECT 'function ' || proname, pg_get_userbyid(proowner) FROM pg_proc "
            "WHERE pronamespace = 'public'::regnamespace AND proowner <> %(o)s::regrole "
            "UNION ALL SELECT 'type ' || typname, pg_get_userbyid(typowner) FROM pg_type "
            "WHERE typnamespace = 'public'::regnamespace AND typowner <> %(o)s::regrole",
            {"o": OWNER_ROLE}).fetchall()
        assert others == []
        datdba = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                              "WHERE datname = current_database()").fetchone()
        assert datdba == (OWNER_ROLE,)


def test_audit_tables_are_append_only_for_the_app(server_db: ServerDb) -> None:
    with server_db.superuser() as conn:
        for table in ("access_logs", "security_events", "audit_batches", "audit_receipts"):
            granted = {p: conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                       (APP_ROLE, table, p)).fetchone()[0]
                       for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")}
            insert = conn.execute("SELECT has_any_column_privilege(%s, %s, 'INSERT')",
                                  (APP_ROLE, table)).fetchone()[0]
            if table in ("access_logs", "security_events"):
                # Every column but the server chain's own numbers (0015: column grants).
                chain = {c: conn.execute("SELECT has_column_privilege(%s, %s, %s, 'INSERT')",
                                         (APP_ROLE, table, c)).fetchone()[0]
                         for c in ("server_seq", "server_xact", "user_id")}
                assert chain == {"server_seq": False, "server_xact": False, "user_id": True}
                granted["INSERT"] = insert
            assert granted == {"SELECT": True, "INSERT": True, "UPDATE": False,
                               "DELETE": False, "TRUNCATE": False}, table
    t = server_db.tenant("Audit")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("INSERT INTO access_logs (tenant_id, id, user_id, action, access_type, "
                    "resource_type, success) VALUES (current_tenant_id(), %s, %s, "
                    "'PHI_ACCESS', 'READ', 'deal.phi', true)", (new_id(), t.admin_id))
        for statement in ("UPDATE access_logs SET success = false",
                          "DELETE FROM access_logs"):
            with pytest.raises(errors.InsufficientPrivilege), app.transaction():
                app.execute(statement)


def test_the_desktop_mirror_columns_exist_with_the_same_names(server_db: ServerDb) -> None:
    with server_db.superuser() as conn:
        for model in (models.Tenant, models.User, models.Deal, models.AccessLog,
                      models.SecurityEvent, models.PhiKey, models.SavedView):
            table = model.__table__
            server = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE "
                "table_schema = 'public' AND table_name = %s", (table.name,))}
            missing = {c.name for c in table.columns} - server
            assert not missing, f"{table.name} lacks {missing}"


def test_the_enums_are_the_seeds(server_db: ServerDb) -> None:
    expected = {"user_role": enums.UserRole, "deal_status": enums.DealStatus,
                "access_action": enums.AccessAction, "access_type": enums.AccessType,
                "phi_key_state": enums.PhiKeyState}
    with server_db.superuser() as conn:
        for name, cls in expected.items():
            values = [r[0] for r in conn.execute(
                "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s::regtype "
                "ORDER BY enumsortorder", (name,))]
            assert values == [m.value for m in cls], name


def test_the_seeds_indexes_exist(server_db: ServerDb) -> None:
    seed = {"users_email_idx", "users_tenant_id_idx", "tenants_domain_idx",
            "deals_tenant_id_idx", "deals_created_by_id_idx", "access_logs_user_id_idx",
            "access_logs_deal_id_idx", "access_logs_timestamp_idx"}
    with server_db.superuser() as conn:
        names = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert seed <= names


def test_money_is_exact_and_filters_on_cents_through_an_index(server_db: ServerDb) -> None:
    t = server_db.tenant("Money")
    big = server_db.deal(t, value="99999999999999.99")
    server_db.deal(t, value="0.10")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        value, cents = app.execute("SELECT value, value_cents FROM deals WHERE id = %s",
                                   (big,)).fetchone()
        assert (value, cents) == (Decimal("99999999999999.99"), 9999999999999999)
        total = app.execute("SELECT sum(value), sum(value_cents) FROM deals").fetchone()
        assert total == (Decimal("100000000000000.09"), 10000000000000009)
        with pytest.raises(errors.NumericValueOutOfRange):
            app.execute("UPDATE deals SET value = 100000000000000.00 WHERE id = %s", (big,))
        app.rollback()
    with server_db.superuser() as su:
        su.execute("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id) "
                   "SELECT %s, 'g' || i, 'bulk', 'ACTIVE', i, %s "
                   "FROM generate_series(1, 2000) i", (t.id, t.admin_id))
        su.execute("ANALYZE deals")
    with server_db.app() as app:
        # Under RLS an index serves the (leakproof) bigint comparison.
        app.execute("SELECT set_tenant_context(%s)", (t.id,))
        app.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in app.execute(
            "EXPLAIN SELECT id FROM deals WHERE value_cents = 10 AND deleted_at IS NULL"))
        assert "deals_live_value_idx" in plan


def test_composite_foreign_keys_refuse_a_row_pointing_into_another_tenant(
        server_db: ServerDb) -> None:
    a, b = server_db.tenant("Alpha"), server_db.tenant("Beta")
    # As the superuser, so that RLS plays no part: the keys alone refuse.
    with server_db.superuser() as conn:
        cases = [
            ("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id) "
             "VALUES (%s, %s, 'x', 'DRAFT', 1, %s)", (a.id, new_id(), b.admin_id)),
            ("INSERT INTO access_logs (tenant_id, id, user_id, action, access_type, "
             "resource_type, success) VALUES (%s, %s, %s, 'PHI_ACCESS', 'READ', 'deal', true)",
             (a.id, new_id(), b.admin_id)),
            ("INSERT INTO devices (tenant_id, id, user_id, name) VALUES (%s, %s, %s, 'laptop')",
             (a.id, new_id(), b.admin_id)),
            ("INSERT INTO sessions (tenant_id, id, user_id, kind, token_hash, expires_at) "
             "VALUES (%s, %s, %s, 'ACCESS', '\\x00', now())", (a.id, new_id(), b.admin_id)),
        ]
        for query, params in cases:
            with pytest.raises(errors.ForeignKeyViolation):
                conn.execute(query, params)
        # A key version of another tenant is not this tenant's key version.
        conn.execute("DELETE FROM key_grants WHERE tenant_id = %s", (b.id,))
        conn.execute("UPDATE phi_keys SET version = 7 WHERE tenant_id = %s", (b.id,))
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                         "grantee_id, wrapped) VALUES (%s, %s, 7, 'SERVER', 's', %s)",
                         (a.id, new_id(), b"\0" * 80))
        # A user cannot be moved to another tenant while its rows point at it.
        server_db.deal(a)
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute("UPDATE users SET tenant_id = %s WHERE id = %s", (b.id, a.admin_id))


def test_emails_are_unique_across_tenants_through_the_directory(server_db: ServerDb) -> None:
    a, b = server_db.tenant("Gamma"), server_db.tenant("Delta")
    with server_db.app() as app:
        app.execute("SELECT set_tenant_context(%s)", (b.id,))
        with pytest.raises(errors.UniqueViolation, match="email_directory_pkey"):
            app.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                        "password) VALUES (current_tenant_id(), %s, %s, 'E', 'V', 'h')",
                        (new_id(), a.admin_email))
        app.rollback()
        # The directory is reached only through tenant_for_email.
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("SELECT * FROM email_directory")
        app.rollback()
        assert app.execute("SELECT tenant_for_email(%s)", (a.admin_email,)).fetchone() == (a.id,)
        assert app.execute("SELECT tenant_for_email('nobody@x.example')").fetchone() == (None,)
        # An email changed in one tenant is free for another; the directory follows.
        app.execute("SELECT set_tenant_context(%s)", (a.id,))
        app.execute("UPDATE users SET email = 'renamed@gamma.example' WHERE id = %s",
                    (a.admin_id,))
        app.commit()
        assert app.execute("SELECT tenant_for_email(%s)", (a.admin_email,)).fetchone() == (None,)
        assert app.execute("SELECT tenant_for_email('renamed@gamma.example')"
                           ).fetchone() == (a.id,)


def test_ids_of_deals_and_users_keep_a_shape_sent_unescaped(server_db: ServerDb) -> None:
    """Pull and bootstrap send these ids without JSON escaping (0011): a CHECK keeps out
    every character JSON would escape."""
    t = server_db.tenant("IdShape")
    with server_db.superuser() as su:
        for bad in ('quo"te', "back\\slash", "new\nline", "", "x" * 65):
            with pytest.raises(errors.CheckViolation), su.transaction():
                su.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                           "created_by_id) VALUES (%s, %s, 'x', 'DRAFT', 1, %s)",
                           (t.id, bad, t.admin_id))
            with pytest.raises(errors.CheckViolation), su.transaction():
                su.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                           "password, role) VALUES (%s, %s, %s, 'A', 'B', 'x', 'USER')",
                           (t.id, bad, f"{new_id()}@idshape.example"))
