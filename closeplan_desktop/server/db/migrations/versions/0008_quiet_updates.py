"""An update that changes nothing a device syncs keeps its row's version.

A sign-in sets `users.last_login_at` and a push sets `devices.last_seen_at`. Neither is
sent to devices, yet each stamped the row with a new tenant version (0004): every
device then pulled the same user row again after every sign-in, and sign-ins of one
tenant waited on each other for the tenant's version lock. Now the stamp leaves such an
update alone: no version taken, no lock, no NOTIFY.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Columns that record activity, never sent in a pull.
UNSYNCED = "ARRAY['last_login_at', 'last_seen_at']"

SQL = f"""
CREATE OR REPLACE FUNCTION stamp_row_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    v bigint;
    changed jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND to_jsonb(NEW) - {UNSYNCED} = to_jsonb(OLD) - {UNSYNCED} THEN
        RETURN NEW;
    END IF;
    v := next_sync_version(NEW.tenant_id);
    NEW.row_version := v;
    IF TG_NARGS > 0 THEN
        SELECT coalesce(jsonb_object_agg(n.key, v), '{{}}'::jsonb) INTO changed
            FROM jsonb_each(to_jsonb(NEW)) AS n
            WHERE n.key = ANY (TG_ARGV)
              AND (TG_OP = 'INSERT' OR n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key);
        NEW.field_versions := CASE WHEN TG_OP = 'INSERT' THEN changed
                                   ELSE coalesce(OLD.field_versions, '{{}}'::jsonb) || changed END;
    END IF;
    RETURN NEW;
END
$$;
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SQL)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
