"""The server's own audit chain, per tenant and table, for the rows the server writes
itself (decrypt_phi's PHI_ACCESS rows, sign-ins, admin actions): rows uploaded by a
device carry that device's chain (device_id, seq, chain_hash) and are left as sent.

- A BEFORE INSERT trigger (SECURITY DEFINER, owned by the owner role) numbers each
  server-written row (`server_seq` 1, 2, 3... per tenant and table) and sets
  `chain_hash = sha256(previous hash || "\n" || the row as canonical JSON)`, keeping the
  head in `server_chain_heads`, a table the app role cannot read or write. The row is
  serialised with TimeZone fixed to UTC (a function setting), so the bytes do not depend
  on the session.
- The app role can only INSERT and SELECT the audit tables (0002), so it can neither
  rewrite a row nor cut the tail; `verify_server_chain(table)` recomputes the chain of
  the current tenant and compares it with the head.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OWNER = "closeplan_owner"
APP = "closeplan_app"
GENESIS = "0" * 64
# Columns outside the hashed body: set after it (row_version by the stamp trigger) or
# being the chain itself.
UNHASHED = "'row_version', 'chain_hash', 'server_seq'"

# Run through exec_driver_sql, which takes % as a parameter marker: %% is a literal %.
SQL = f"""
CREATE TABLE server_chain_heads (
    tenant_id text NOT NULL REFERENCES tenants (id),
    table_name text NOT NULL CHECK (table_name IN ('access_logs', 'security_events')),
    seq bigint NOT NULL,
    head text NOT NULL,
    PRIMARY KEY (tenant_id, table_name)
);
ALTER TABLE server_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE server_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON server_chain_heads
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

ALTER TABLE access_logs ADD COLUMN server_seq bigint;
ALTER TABLE security_events ADD COLUMN server_seq bigint;
CREATE UNIQUE INDEX access_logs_server_seq_key ON access_logs (tenant_id, server_seq)
    WHERE server_seq IS NOT NULL;
CREATE UNIQUE INDEX security_events_server_seq_key ON security_events (tenant_id, server_seq)
    WHERE server_seq IS NOT NULL;

CREATE FUNCTION server_chain_body(j jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (j - ARRAY[{UNHASHED}])::text $$;

CREATE FUNCTION chain_server_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    n bigint;
    prev text;
BEGIN
    -- Device rows keep their own chain. A row outside the session's tenant is refused by
    -- row-level security right after (or written by a superuser, who is beyond any
    -- check): the chain never switches tenant context to take it.
    IF NEW.device_id IS NOT NULL OR NEW.tenant_id IS DISTINCT FROM current_tenant_id() THEN
        RETURN NEW;
    END IF;
    INSERT INTO server_chain_heads (tenant_id, table_name, seq, head)
        VALUES (NEW.tenant_id, TG_TABLE_NAME, 0, '{GENESIS}')
        ON CONFLICT (tenant_id, table_name) DO NOTHING;
    SELECT seq, head INTO n, prev FROM server_chain_heads
        WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME FOR UPDATE;
    NEW.server_seq := n + 1;
    NEW.chain_hash := encode(sha256(convert_to(
        prev || E'\\n' || server_chain_body(to_jsonb(NEW)), 'UTF8')), 'hex');
    UPDATE server_chain_heads SET seq = NEW.server_seq, head = NEW.chain_hash
        WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME;
    RETURN NEW;
END
$$;

-- Named to fire before *_stamp (triggers fire in name order): the chain's row lock is
-- taken per table, the tenant's version lock right after.
CREATE TRIGGER access_logs_chain BEFORE INSERT ON access_logs
    FOR EACH ROW EXECUTE FUNCTION chain_server_row();
CREATE TRIGGER security_events_chain BEFORE INSERT ON security_events
    FOR EACH ROW EXECUTE FUNCTION chain_server_row();

-- The current tenant's server chain of `tbl`, recomputed: how many rows, whether every
-- hash and the head agree, and the first server_seq that does not.
CREATE FUNCTION verify_server_chain(tbl text,
                                    OUT rows bigint, OUT intact boolean, OUT first_bad bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    r record;
    prev text := '{GENESIS}';
    expected bigint := 0;
    head_seq bigint;
    head_hash text;
BEGIN
    IF tbl NOT IN ('access_logs', 'security_events') THEN
        RAISE EXCEPTION 'no server chain for that table' USING ERRCODE = '22023';
    END IF;
    rows := 0; intact := true; first_bad := NULL;
    FOR r IN EXECUTE format('SELECT server_seq, chain_hash, to_jsonb(t) AS j FROM %%I t '
                            'WHERE tenant_id = current_tenant_id() AND server_seq IS NOT NULL '
                            'ORDER BY server_seq', tbl) LOOP
        expected := expected + 1;
        rows := rows + 1;
        IF r.server_seq <> expected OR r.chain_hash IS DISTINCT FROM encode(sha256(convert_to(
                prev || E'\\n' || server_chain_body(r.j), 'UTF8')), 'hex') THEN
            intact := false; first_bad := expected;
            RETURN;
        END IF;
        prev := r.chain_hash;
    END LOOP;
    SELECT seq, head INTO head_seq, head_hash FROM server_chain_heads
        WHERE tenant_id = current_tenant_id() AND table_name = tbl;
    IF coalesce(head_seq, 0) <> rows OR coalesce(head_hash, '{GENESIS}') <> prev THEN
        intact := false; first_bad := rows + 1;
    END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION chain_server_row(), server_chain_body(jsonb),
    verify_server_chain(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION verify_server_chain(text) TO {APP};
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SQL)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
