"""The server's audit chain (0005) with one statement per row instead of three.

The first server-written row of a table in a transaction makes the head row if needed,
locks it (SELECT ... FOR UPDATE) and keeps (seq, hash) in a transaction-local setting
keyed by transaction, tenant and table; later rows of that transaction chain from the
setting and only UPDATE the head, whose lock they already hold. A rolled-back savepoint
rolls the setting back with the head, so the two never disagree. Measured with deal
writes and their log rows: the chain took about 45 % of the write rate.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

SQL = f"""
CREATE OR REPLACE FUNCTION chain_server_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    cache_name text;
    cache_key text;
    cached text;
    n bigint;
    prev text;
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
    IF cached IS NOT NULL AND split_part(cached, '|', 1) = cache_key THEN
        n := split_part(cached, '|', 2)::bigint;
        prev := split_part(cached, '|', 3);
    ELSE
        INSERT INTO server_chain_heads (tenant_id, table_name, seq, head)
            VALUES (NEW.tenant_id, TG_TABLE_NAME, 0, '{GENESIS}')
            ON CONFLICT (tenant_id, table_name) DO NOTHING;
        SELECT seq, head INTO n, prev FROM server_chain_heads
            WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME FOR UPDATE;
    END IF;
    NEW.server_seq := n + 1;
    NEW.chain_hash := encode(sha256(convert_to(
        prev || E'\\n' || server_chain_body(to_jsonb(NEW)), 'UTF8')), 'hex');
    UPDATE server_chain_heads SET seq = NEW.server_seq, head = NEW.chain_hash
        WHERE tenant_id = NEW.tenant_id AND table_name = TG_TABLE_NAME;
    PERFORM set_config(cache_name, cache_key || '|' || NEW.server_seq || '|' || NEW.chain_hash,
                       true);
    RETURN NEW;
END
$$;
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SQL)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
