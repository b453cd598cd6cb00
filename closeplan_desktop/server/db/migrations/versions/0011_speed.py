"""Versions stamped by push's own statements (issue 11, Speed).

Push's bulk path (server/sync/push_bulk.py) already knows, for every row it writes, the
transaction's version (it took it first, with the tenant's lock) and which fields
change. It now writes `row_version` and `field_versions` itself, in the same INSERT and
UPDATE, and the per-row stamp trigger (a plpgsql call per row, 0010) runs only for rows
that do not carry them. The check is the trigger's WHEN clause, built-in functions only
(no function call per row): the row's `row_version` is exactly the version this
transaction holds for the row's tenant (`closeplan.txn_version`, written by
`next_sync_version` together with the tenant's lock), and on UPDATE the statement moved
it. Every other write is stamped by the trigger as before, so the guarantee stays: a
row written by a transaction carries the version that transaction took under its
tenant's lock, and a pull of `row_version > since` never skips a row.

- deals: `deals_stamp` (INSERT) and `deals_stamp_update` (UPDATE) with that check.
- access_logs: an INSERT that carries the transaction's version is not stamped again
  (push's access-log rows); the server chain (0005-0010) is unchanged.

Revision ID: 0011_speed
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0011_speed"
down_revision = "0010"
branch_labels = None
depends_on = None

# NEW carries the version this transaction took for NEW's tenant (0004's cache).
STAMPED = ("coalesce(current_setting('closeplan.txn_version', true) = "
           "pg_current_xact_id()::text || ':' || NEW.tenant_id || '|' || NEW.row_version, "
           "false)")

STAMPS = f"""
DROP TRIGGER deals_stamp ON deals;
CREATE TRIGGER deals_stamp BEFORE INSERT ON deals FOR EACH ROW
    WHEN (NOT {STAMPED})
    EXECUTE FUNCTION stamp_deal_version();
CREATE TRIGGER deals_stamp_update BEFORE UPDATE ON deals FOR EACH ROW
    WHEN (NOT (NEW.row_version IS DISTINCT FROM OLD.row_version AND {STAMPED}))
    EXECUTE FUNCTION stamp_deal_version();
DROP TRIGGER access_logs_stamp ON access_logs;
CREATE TRIGGER access_logs_stamp BEFORE INSERT ON access_logs FOR EACH ROW
    WHEN (NOT {STAMPED})
    EXECUTE FUNCTION stamp_plain_version();
CREATE TRIGGER access_logs_stamp_update BEFORE UPDATE ON access_logs FOR EACH ROW
    EXECUTE FUNCTION stamp_plain_version();
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(STAMPS)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
