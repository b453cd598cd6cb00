"""Deal activities and deal history (issue 15): two new tables, empty after the upgrade.

- ``deal_activities``: non-PHI notes, calls, meetings, emails, tasks (due day, done
  time) and next steps on a deal; soft-deleted; synced (a create appends, an edit is
  last writer wins per field).
- ``deal_history``: per change to a deal, its op and the fields it changed (old and new
  values; PHI only as "changed"), with the audit row and the outbox row of a local
  change. Deals made before this version have no history rows: their history starts
  with their next change.

Revision ID: 0008_activities
Revises: 0007_audit_upload
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0008_activities"
down_revision = "0007_audit_upload"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE deal_activities (
        id VARCHAR(25) NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        deal_id VARCHAR(25) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        body TEXT NOT NULL,
        due_at VARCHAR(27),
        done_at VARCHAR(27),
        created_by_id VARCHAR(25) NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        deleted_at VARCHAR(27),
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT deal_activities_pkey PRIMARY KEY (id),
        CONSTRAINT deal_activities_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT deal_activities_deal_id_fkey FOREIGN KEY(deal_id) REFERENCES deals (id),
        CONSTRAINT deal_activities_activity_kind_check
            CHECK (kind IN ('NOTE', 'CALL', 'MEETING', 'EMAIL', 'TASK', 'NEXT_STEP')),
        CONSTRAINT deal_activities_created_by_id_fkey
            FOREIGN KEY(created_by_id) REFERENCES users (id)
    )
    """,
    "CREATE INDEX deal_activities_deal_idx ON deal_activities (deal_id, created_at)",
    "CREATE INDEX deal_activities_due_idx ON deal_activities (tenant_id, created_by_id, due_at) "
    "WHERE due_at IS NOT NULL AND done_at IS NULL AND deleted_at IS NULL",
    """
    CREATE TABLE deal_history (
        id VARCHAR(40) NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        deal_id VARCHAR(25) NOT NULL,
        op VARCHAR(16) NOT NULL,
        changes TEXT NOT NULL,
        user_id VARCHAR(25),
        created_at VARCHAR(27) NOT NULL,
        access_log_id VARCHAR(25),
        outbox_id INTEGER,
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT deal_history_pkey PRIMARY KEY (id),
        CONSTRAINT deal_history_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id)
    )
    """,
    "CREATE INDEX deal_history_deal_idx ON deal_history (deal_id, created_at)",
    "CREATE INDEX deal_history_outbox_idx ON deal_history (outbox_id) "
    "WHERE outbox_id IS NOT NULL",
    "CREATE INDEX deal_history_access_log_idx ON deal_history (access_log_id) "
    "WHERE access_log_id IS NOT NULL",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
