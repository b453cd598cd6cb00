"""Key slots and grants (issue 12, Keys): the keyring alone no longer opens PHI.

Each user's X25519 private key is sealed in `key_slots` under the keyring secret and
their password; PHI key versions and the device's keys are wrapped for each slot in
`key_grants`. The upgrade adds the empty tables: the first sign-in afterwards moves the
plain PHI keys out of the keyring into grants (`core.store.key_vault`).

Revision ID: 0005_keys
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005_keys"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE key_slots (
        user_id VARCHAR(25) NOT NULL,
        public_key BLOB NOT NULL,
        salt BLOB NOT NULL,
        kdf TEXT NOT NULL,
        sealed BLOB NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        CONSTRAINT key_slots_pkey PRIMARY KEY (user_id),
        CONSTRAINT key_slots_user_id_fkey FOREIGN KEY(user_id) REFERENCES users (id)
    )""")
    op.execute("""
    CREATE TABLE key_grants (
        user_id VARCHAR(25) NOT NULL,
        name VARCHAR(80) NOT NULL,
        wrapped BLOB NOT NULL,
        CONSTRAINT key_grants_pkey PRIMARY KEY (user_id, name),
        CONSTRAINT key_grants_user_id_fkey FOREIGN KEY(user_id) REFERENCES key_slots (user_id)
    )""")


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
