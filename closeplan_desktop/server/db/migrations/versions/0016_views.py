"""Saved views (issue 15), with row-level security like every tenant table.

``saved_views``: a user's named deal-list filters (the desktop's DealQuery as JSON text)
and which one is their default. Per user: only its owner pushes and pulls it (the push
handler checks the owner; pull and bootstrap send a caller only their own rows). Last
writer wins per view; a delete is a tombstone. Keys and foreign keys carry tenant_id
(Citus-shaped); stamped with the tenant's sync version (0010's
``stamp_plain_version``), so pull and bootstrap carry it. The app role may read, insert
and update (never delete: a tombstone).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

APP = "closeplan_app"
MAX_NAME = 60  # core.usecases.views.MAX_NAME
MAX_QUERY = 1000  # core.usecases.views.MAX_QUERY_BYTES

SQL = f"""
CREATE TABLE saved_views (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL CONSTRAINT saved_views_name_check
        CHECK (char_length(name) BETWEEN 1 AND {MAX_NAME}),
    query text NOT NULL CONSTRAINT saved_views_query_check
        CHECK (octet_length(query) <= {MAX_QUERY}),
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    row_version bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX saved_views_user_idx ON saved_views (tenant_id, user_id, row_version);
CREATE INDEX saved_views_row_version_idx ON saved_views (tenant_id, row_version);

ALTER TABLE saved_views ENABLE ROW LEVEL SECURITY;
ALTER TABLE saved_views FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON saved_views
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
CREATE TRIGGER saved_views_stamp BEFORE INSERT OR UPDATE ON saved_views
    FOR EACH ROW EXECUTE FUNCTION stamp_plain_version();

GRANT SELECT, INSERT, UPDATE ON saved_views TO {APP};
"""


def upgrade() -> None:
    # exec_driver_sql takes % as a parameter marker: none of this SQL has one.
    op.get_bind().exec_driver_sql(SQL)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
