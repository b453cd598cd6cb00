"""An index of the outbox by entity, so that a change can drop the PHI envelopes of the
entity's earlier outbox rows (issue 13, finding 6: no PHI envelope is kept beyond what
sync needs, the latest row of each entity). Rows written before it keep their
envelopes until the deal's next change: the upgrade changes no row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX outbox_entity_idx ON outbox (entity, entity_id)")


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
