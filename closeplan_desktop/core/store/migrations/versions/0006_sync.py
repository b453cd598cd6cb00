"""Sync with the ClosePlan server (issue 12): the connection, its cursors, what push
needs in the outbox, and the verdicts push and pull bring back.

Revision ID: 0006_sync
Revises: 0005_keys
Create Date: 2026-11-30

- ``sync_connection`` (one row, absent while standalone): the server's URL, the tenant,
  this device's id there, the server signing key pinned at enrolment, the status
  (``awaiting_approval`` or ``connected``), the pull cursor and the last checkpoint.
- ``outbox`` gains what push sends beside the row: ``base_version`` (the server version
  the change started from), ``fields`` (a JSON list of the fields it changed), ``mid``
  (the device's mutation id, 1, 2, 3..., given when first sent and kept for a replay)
  and ``acked_at`` / ``verdict`` (what the server answered).
- ``sync_conflicts`` and ``sync_rejections``: the server's verdicts, shown by the UI.
Rows written before it stay as they were: their ``fields`` are null, and push sends
every field of such a row.
"""

from __future__ import annotations

from alembic import op

revision = "0006_sync"
down_revision = "0005_keys"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE sync_connection (
        id INTEGER NOT NULL,
        url TEXT NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        user_id VARCHAR(25) NOT NULL,
        device_id VARCHAR(25) NOT NULL,
        server_key_id TEXT,
        server_key TEXT,
        status VARCHAR(24) NOT NULL,
        pull_cursor TEXT,
        bootstrap_cursor TEXT,
        bootstrapped BOOLEAN NOT NULL DEFAULT 0,
        checkpoint INTEGER NOT NULL DEFAULT 0,
        last_sync_at VARCHAR(27),
        created_at VARCHAR(27) NOT NULL,
        CONSTRAINT sync_connection_pkey PRIMARY KEY (id),
        CONSTRAINT sync_connection_one_check CHECK (id = 1),
        CONSTRAINT sync_connection_status_check
            CHECK (status IN ('awaiting_approval', 'connected'))
    )
    """,
    "ALTER TABLE outbox ADD COLUMN base_version INTEGER",
    "ALTER TABLE outbox ADD COLUMN fields TEXT",
    "ALTER TABLE outbox ADD COLUMN mid INTEGER",
    "ALTER TABLE outbox ADD COLUMN acked_at VARCHAR(27)",
    "ALTER TABLE outbox ADD COLUMN verdict VARCHAR(16)",
    "CREATE UNIQUE INDEX outbox_mid_key ON outbox (mid) WHERE mid IS NOT NULL",
    "CREATE INDEX outbox_pending_idx ON outbox (id) WHERE acked_at IS NULL",
    """
    CREATE TABLE sync_conflicts (
        id VARCHAR(25) NOT NULL,
        table_name VARCHAR(32) NOT NULL,
        row_id VARCHAR(64) NOT NULL,
        field VARCHAR(64) NOT NULL,
        base_version INTEGER,
        server_version INTEGER NOT NULL,
        kept_value TEXT,
        losing_value TEXT,
        device_id VARCHAR(25),
        mutation_id INTEGER,
        created_at VARCHAR(27) NOT NULL,
        resolved_at VARCHAR(27),
        row_version INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT sync_conflicts_pkey PRIMARY KEY (id)
    )
    """,
    """
    CREATE TABLE sync_rejections (
        id VARCHAR(25) NOT NULL,
        device_id VARCHAR(25),
        mutation_id INTEGER NOT NULL,
        table_name VARCHAR(32) NOT NULL,
        row_id VARCHAR(64),
        op VARCHAR(16) NOT NULL,
        code VARCHAR(64) NOT NULL,
        message TEXT NOT NULL,
        fields TEXT,
        created_at VARCHAR(27) NOT NULL,
        acknowledged_at VARCHAR(27),
        row_version INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT sync_rejections_pkey PRIMARY KEY (id)
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
