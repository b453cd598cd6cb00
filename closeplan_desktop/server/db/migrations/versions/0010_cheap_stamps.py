"""Cheaper version stamps and a chain head written once per statement (issue 11, Speed).

Measured with push's rows, the per-row stamp of 0004/0008 cost about two thirds of the
write rate: every row went through `to_jsonb(NEW)` (and, on UPDATE, `to_jsonb(OLD)`
twice more) to find the changed fields. Now:

- Deals stamp with `stamp_deal_version`, which compares the tracked columns one by one
  (the PHI envelope as text: json has no equality) and builds `field_versions` from
  them; an update that changes no column still takes no version (0008's rule).
- Tables without tracked fields (PHI keys, key grants, conflicts, rejections, the audit
  tables) stamp an INSERT with the version alone; an UPDATE keeps 0008's comparison
  (updates of them are rare). Users and devices keep 0008's function (activity
  columns, rare writes).
- The server chain (0005, 0009) no longer updates its head row per row: a
  transaction's first row advances the head in one UPDATE ... RETURNING (which locks
  it; 0009 took an INSERT ... ON CONFLICT, a SELECT ... FOR UPDATE and an UPDATE),
  later rows chain from the transaction-local setting, and an AFTER ... FOR EACH
  STATEMENT trigger writes the head once from that setting. Within a statement the head is written before the
  statement ends, so a reader after it (verify_server_chain, the next transaction) sees
  it as before; a rolled-back savepoint rolls back the setting and the head together.

The guarantees stay: the tenant's version is still taken by the first write (its lock
serialises writers, so a pull never skips a row) and every stamped row carries it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
UNSYNCED = "ARRAY['last_login_at', 'last_seen_at']"
# Deals' tracked fields (0004's TRACKED) and how each is compared.
DEAL_FIELDS = {"title": "{}.title", "status": "{}.status", "value": "{}.value",
               "phi": "{}.phi::text", "phi_key_version": "{}.phi_key_version",
               "created_by_id": "{}.created_by_id", "deleted_at": "{}.deleted_at"}
# Every stored column of deals besides the tracked ones (generated columns are NULL in a
# BEFORE trigger and follow from the others).
DEAL_OTHERS = ("tenant_id", "id", "created_at", "updated_at", "row_version",
               "field_versions", "field_devices")
# Stamped tables that track no fields and have no activity column.
PLAIN = ("phi_keys", "key_grants", "conflicts", "rejections", "access_logs",
         "security_events")


def _row(side: str) -> str:
    cols = [expr.format(side) for expr in DEAL_FIELDS.values()]
    cols += [f"{side}.{c}" for c in DEAL_OTHERS]
    return "(" + ", ".join(cols) + ")"


def _deal_function() -> str:
    inserted = ", ".join(f"'{name}', v" for name in DEAL_FIELDS)
    checks = "\n".join(
        f"    IF {expr.format('NEW')} IS DISTINCT FROM {expr.format('OLD')} THEN\n"
        f"        changed := changed || jsonb_build_object('{name}', v);\n    END IF;"
        for name, expr in DEAL_FIELDS.items())
    return f"""
CREATE FUNCTION stamp_deal_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    v bigint;
    changed jsonb := '{{}}'::jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND {_row('NEW')} IS NOT DISTINCT FROM {_row('OLD')} THEN
        RETURN NEW;
    END IF;
    v := next_sync_version(NEW.tenant_id);
    NEW.row_version := v;
    IF TG_OP = 'INSERT' THEN
        NEW.field_versions := jsonb_build_object({inserted});
        RETURN NEW;
    END IF;
{checks}
    NEW.field_versions := coalesce(OLD.field_versions, '{{}}'::jsonb) || changed;
    RETURN NEW;
END
$$;
"""


PLAIN_FUNCTION = f"""
CREATE FUNCTION stamp_plain_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND to_jsonb(NEW) - {UNSYNCED} = to_jsonb(OLD) - {UNSYNCED} THEN
        RETURN NEW;
    END IF;
    NEW.row_version := next_sync_version(NEW.tenant_id);
    RETURN NEW;
END
$$;
"""

CHAIN = f"""
CREATE OR REPLACE FUNCTION chain_server_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    cache_name text;
    cache_key text;
    cached text;
    body text;
    n bigint;
    h text;
BEGIN
    -- Device rows keep their own chain. A row outside the session's tenant is refused by
    -- row-level security right after (or written by a superuser, who is beyond any
    -- check): the chain never switches tenant context to take it.
    IF NEW.device_id IS NOT NULL OR NEW.tenant_id IS DISTINCT FROM current_tenant_id() THEN
        RETURN NEW;
    END IF;
    cache_name := 'closeplan.chain_' || TG_TABLE_NAME;
    cache_key := pg_current_xact_id()::text || ':' || NEW.tenant_id;
    cached := current_setting(cache_name, true);
    -- The hashed body leaves out server_seq and chain_hash, so it is known before them.
    body := server_chain_body(to_jsonb(NEW));
    IF cached IS NOT NULL AND split_part(cached, '|', 1) = cache_key THEN
        n := split_part(cached, '|', 2)::bigint + 1;
        h := encode(sha256(convert_to(split_part(cached, '|', 3) || E'\\n' || body, 'UTF8')),
                    'hex');
    ELSE
        -- The transaction's first row: advance the head in one statement (which locks
        -- it until commit); make it first if the tenant has none yet.
        UPDATE server_chain_heads
            SET seq = seq + 1, head = encode(sha256(convert_to(head || E'\\n' || body, 'UTF8')),
                                             'hex')
            WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME
            RETURNING seq, head INTO n, h;
        IF NOT FOUND THEN
            INSERT INTO server_chain_heads (tenant_id, table_name, seq, head)
                VALUES (NEW.tenant_id, TG_TABLE_NAME, 0, '{GENESIS}')
                ON CONFLICT (tenant_id, table_name) DO NOTHING;
            UPDATE server_chain_heads
                SET seq = seq + 1,
                    head = encode(sha256(convert_to(head || E'\\n' || body, 'UTF8')), 'hex')
                WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME
                RETURNING seq, head INTO n, h;
        END IF;
    END IF;
    NEW.server_seq := n;
    NEW.chain_hash := h;
    -- Later rows of the transaction chain from here; flush_server_chain writes the head
    -- once at each statement's end.
    PERFORM set_config(cache_name, cache_key || '|' || n || '|' || h, true);
    RETURN NEW;
END
$$;

CREATE FUNCTION flush_server_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    cached text := current_setting('closeplan.chain_' || TG_TABLE_NAME, true);
    tenant text := current_tenant_id();
BEGIN
    -- Only this transaction's chain of the session's tenant (the rows chain_server_row
    -- numbered); the head row is already locked by this transaction then.
    IF tenant IS NULL OR cached IS NULL
       OR split_part(cached, '|', 1) <> pg_current_xact_id()::text || ':' || tenant THEN
        RETURN NULL;
    END IF;
    UPDATE server_chain_heads
        SET seq = split_part(cached, '|', 2)::bigint, head = split_part(cached, '|', 3)
        WHERE tenant_id = tenant AND table_name = TG_TABLE_NAME
          AND seq <> split_part(cached, '|', 2)::bigint;
    RETURN NULL;
END
$$;

CREATE TRIGGER access_logs_chain_head AFTER INSERT ON access_logs
    FOR EACH STATEMENT EXECUTE FUNCTION flush_server_chain();
CREATE TRIGGER security_events_chain_head AFTER INSERT ON security_events
    FOR EACH STATEMENT EXECUTE FUNCTION flush_server_chain();
REVOKE EXECUTE ON FUNCTION flush_server_chain() FROM PUBLIC;
"""


def _restamp(table: str, function: str) -> str:
    return (f"DROP TRIGGER {table}_stamp ON {table};\n"
            f"CREATE TRIGGER {table}_stamp BEFORE INSERT OR UPDATE ON {table}\n"
            f"    FOR EACH ROW EXECUTE FUNCTION {function}();\n")


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(_deal_function() + PLAIN_FUNCTION + CHAIN)
    bind.exec_driver_sql(_restamp("deals", "stamp_deal_version"))
    for table in PLAIN:
        bind.exec_driver_sql(_restamp(table, "stamp_plain_version"))
    bind.exec_driver_sql("REVOKE EXECUTE ON FUNCTION stamp_deal_version(), "
                         "stamp_plain_version() FROM PUBLIC;")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
