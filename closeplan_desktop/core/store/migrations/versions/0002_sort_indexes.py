"""Indexes for every sort of the deals list, so that sorting stays bound by an index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "deals_live_title_idx": "title",
    "deals_live_value_idx": "value",
    "deals_live_created_idx": "created_at",
}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON deals (tenant_id, {column}) "
                   "WHERE deleted_at IS NULL")


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
