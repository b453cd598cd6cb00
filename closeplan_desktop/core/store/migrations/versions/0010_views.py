"""Saved views (issue 15): one new table, empty after the upgrade.

``saved_views``: a user's named deal-list filters (a DealQuery as JSON), one of them
possibly the user's default (opened at sign-in). Per user: only its owner sees and
changes it. Soft-deleted (a tombstone, so a delete syncs); synced (last writer wins per
view). A row named as a built-in view ("All deals", ...) only marks that built-in as
the user's default.

Revision ID: 0010_views
Revises: 0009_owner (re-chained after merging own15)
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0010_views"
down_revision = "0009_owner"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE saved_views (
        id VARCHAR(25) NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        user_id VARCHAR(25) NOT NULL,
        name TEXT NOT NULL,
        query TEXT NOT NULL,
        is_default BOOLEAN DEFAULT 0 NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        deleted_at VARCHAR(27),
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT saved_views_pkey PRIMARY KEY (id),
        CONSTRAINT saved_views_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT saved_views_user_id_fkey FOREIGN KEY(user_id) REFERENCES users (id)
    )
    """,
    "CREATE INDEX saved_views_user_idx ON saved_views (tenant_id, user_id)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
