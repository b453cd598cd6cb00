"""Row-level security, the seed's tenant functions, the email directory, privileges.

- set_tenant_context / current_tenant_id exactly as the seed has them: the context is
  transaction-local, so a pooled connection never carries one tenant into the next
  transaction; after a local setting ends current_setting() returns '' (not NULL), hence
  the NULLIF.
- Every tenant table: RLS enabled and forced (the owner is held to it too) and one
  policy, USING and WITH CHECK on tenant_id = current_tenant_id(). With no context a
  query sees nothing and can write nothing.
- The app role gets only what the API needs: no DELETE except on sessions, and only
  INSERT and SELECT on the audit tables (append-only for it).

The role names are those of closeplan_desktop.server.db.admin (fixed here: a migration
never changes meaning when code moves on).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OWNER = "closeplan_owner"
APP = "closeplan_app"

# Tenant tables and the app role's privileges on each.
WRITABLE = ("users", "deals", "phi_keys", "devices", "key_grants", "conflicts", "rejections")
APPEND_ONLY = ("access_logs", "security_events", "audit_batches", "audit_receipts")
TENANT_TABLES = ("tenants", *WRITABLE, "sessions", *APPEND_ONLY)

FUNCTIONS = f"""
CREATE FUNCTION set_tenant_context(tenant_id text) RETURNS text
    LANGUAGE sql VOLATILE
    AS $$ SELECT set_config('app.tenant_id', $1, true) $$;

CREATE FUNCTION current_tenant_id() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$;

-- Who acts, for the rows the database writes itself (decrypt_phi's access log).
CREATE FUNCTION set_user_context(user_id text) RETURNS text
    LANGUAGE sql VOLATILE
    AS $$ SELECT set_config('app.user_id', $1, true) $$;

CREATE FUNCTION current_user_id() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '') $$;

-- Sign-in's one look past the tenant boundary: the tenant of an email, nothing else.
CREATE FUNCTION tenant_for_email(email text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT d.tenant_id FROM email_directory d WHERE d.email = $1 $$;

CREATE FUNCTION users_email_directory() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM email_directory WHERE email = OLD.email AND tenant_id = OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO email_directory (email, tenant_id, user_id)
            VALUES (NEW.email, NEW.tenant_id, NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_email_directory_insert AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_directory();
CREATE TRIGGER users_email_directory_update AFTER UPDATE OF email, tenant_id, id ON users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email
                       OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
                       OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION users_email_directory();
CREATE TRIGGER users_email_directory_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_directory();

-- Functions are not executable by PUBLIC unless granted (now and later).
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_tenant_context(text), current_tenant_id(),
    set_user_context(text), current_user_id(), tenant_for_email(text) TO {APP};

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {APP};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
"""


def _isolation(table: str) -> str:
    column = "id" if table == "tenants" else "tenant_id"
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table}
    USING ({column} = current_tenant_id())
    WITH CHECK ({column} = current_tenant_id());
"""


def _grants() -> str:
    out = [f"GRANT SELECT, INSERT, UPDATE ON tenants, {', '.join(WRITABLE)} TO {APP};",
           f"GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO {APP};",
           f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO {APP};"]
    return "\n".join(out)


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(FUNCTIONS)
    for table in TENANT_TABLES:
        bind.exec_driver_sql(_isolation(table))
    bind.exec_driver_sql(_grants())


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
