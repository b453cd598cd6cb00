"""Which device last changed each tracked field of deals and users (push's conflicts).

`field_versions` (0004) says when a field last changed; push also needs to know who
changed it: a device's second offline edit of a field carries the same base version as
its first (the laptop has not pulled in between), and must not count as a conflict with
itself. `field_devices` maps field -> the device whose push last changed it; push keeps
it for the fields it changes (the only writer of these fields on the server). A field
absent from it was last changed by no device's push (treated as "someone else").

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "ALTER TABLE deals ADD COLUMN field_devices jsonb NOT NULL DEFAULT '{}';\n"
        "ALTER TABLE users ADD COLUMN field_devices jsonb NOT NULL DEFAULT '{}';")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
