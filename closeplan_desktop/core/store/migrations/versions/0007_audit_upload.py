"""Audit upload (issue 12): the server's signed receipts of this device's uploaded audit
batches, and where each chain's upload stands. Both start empty: an upgraded workspace
uploads its whole history at its first sync.

Revision ID: 0007_audit_upload
Revises: 0006_sync
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007_audit_upload"
down_revision = "0006_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE audit_receipts (
            device_id VARCHAR(25) NOT NULL,
            table_name VARCHAR(40) NOT NULL,
            first_seq INTEGER NOT NULL,
            batch_hash VARCHAR(64) NOT NULL,
            last_seq INTEGER NOT NULL,
            tenant_id VARCHAR(25) NOT NULL,
            last_chain_hash VARCHAR(64) NOT NULL,
            received_at VARCHAR(27) NOT NULL,
            server_key_id VARCHAR(64) NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (device_id, table_name, first_seq, batch_hash)
        )""")
    op.execute("""
        CREATE TABLE audit_upload (
            device_id VARCHAR(25) NOT NULL,
            table_name VARCHAR(40) NOT NULL,
            next_seq INTEGER NOT NULL,
            pending_last INTEGER,
            PRIMARY KEY (device_id, table_name)
        )""")


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
