"""The board sorted by close date (issue 15): one index.

A board column is one status; sorted by expected close date it walked the close-date
index past every deal of the other statuses first (closed deals close in the past, open
ones in the future), 60 ms and more a column at a million deals. This index pages a
status by close date directly.

Revision ID: 0011_board_close
Revises: 0010_views
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0011_board_close"
down_revision = "0010_views"
branch_labels = None
depends_on = None

STATEMENTS = [
    "CREATE INDEX deals_live_status_close_idx ON deals "
    "(tenant_id, status, ifnull(expected_close_date, ''), id) WHERE deleted_at IS NULL",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
