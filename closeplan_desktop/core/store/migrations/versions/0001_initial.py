"""The initial local schema: the seed's tables and the desktop's additions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Frozen DDL: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    """
    CREATE TABLE audit_heads (
        chain VARCHAR(80) NOT NULL,
        seq INTEGER NOT NULL,
        head_hash VARCHAR(64) NOT NULL,
        head_mac VARCHAR(64) NOT NULL,
        CONSTRAINT audit_heads_pkey PRIMARY KEY (chain)
    )
    """,
    """
    CREATE TABLE login_throttle (
        email TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_at VARCHAR(27),
        locked_until VARCHAR(27),
        CONSTRAINT login_throttle_pkey PRIMARY KEY (email)
    )
    """,
    """
    CREATE TABLE tenants (
        id VARCHAR(25) NOT NULL,
        name TEXT NOT NULL,
        domain TEXT,
        created_at VARCHAR(27) NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT tenants_pkey PRIMARY KEY (id)
    )
    """,
    """
    CREATE INDEX tenants_domain_idx ON tenants (domain)
    """,
    """
    CREATE TABLE workspace_meta (
        "key" VARCHAR(64) NOT NULL,
        value TEXT NOT NULL,
        CONSTRAINT workspace_meta_pkey PRIMARY KEY ("key")
    )
    """,
    """
    CREATE TABLE outbox (
        id INTEGER NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        entity VARCHAR(32) NOT NULL,
        entity_id VARCHAR(25) NOT NULL,
        op VARCHAR(16) NOT NULL,
        payload TEXT NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        pushed_at VARCHAR(27),
        CONSTRAINT outbox_pkey PRIMARY KEY (id),
        CONSTRAINT outbox_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id)
    )
    """,
    """
    CREATE TABLE phi_keys (
        tenant_id VARCHAR(25) NOT NULL,
        version INTEGER NOT NULL,
        state VARCHAR(16) NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        retired_at VARCHAR(27),
        CONSTRAINT phi_keys_pkey PRIMARY KEY (tenant_id, version),
        CONSTRAINT phi_keys_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT phi_keys_phi_key_state_check CHECK (state IN ('ACTIVE', 'DECRYPT_ONLY', 'RETIRED'))
    )
    """,
    """
    CREATE TABLE users (
        id VARCHAR(25) NOT NULL,
        email TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        password TEXT NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        role VARCHAR(16) NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        deactivated_at VARCHAR(27),
        last_login_at VARCHAR(27),
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT users_pkey PRIMARY KEY (id),
        CONSTRAINT users_email_key UNIQUE (email),
        CONSTRAINT users_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT users_user_role_check CHECK (role IN ('ADMIN', 'USER'))
    )
    """,
    """
    CREATE INDEX users_email_idx ON users (email)
    """,
    """
    CREATE INDEX users_tenant_id_idx ON users (tenant_id)
    """,
    """
    CREATE TABLE deals (
        id VARCHAR(25) NOT NULL,
        title TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        value INTEGER NOT NULL,
        phi TEXT,
        tenant_id VARCHAR(25) NOT NULL,
        created_by_id VARCHAR(25) NOT NULL,
        created_at VARCHAR(27) NOT NULL,
        updated_at VARCHAR(27) NOT NULL,
        deleted_at VARCHAR(27),
        phi_key_version INTEGER,
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT deals_pkey PRIMARY KEY (id),
        CONSTRAINT deals_value_nonnegative_check CHECK (value >= 0),
        CONSTRAINT deals_deal_status_check CHECK (status IN ('DRAFT', 'ACTIVE', 'CLOSED_WON', 'CLOSED_LOST')),
        CONSTRAINT deals_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT deals_created_by_id_fkey FOREIGN KEY(created_by_id) REFERENCES users (id)
    )
    """,
    """
    CREATE INDEX deals_created_by_id_idx ON deals (created_by_id)
    """,
    """
    CREATE INDEX deals_deleted_idx ON deals (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL
    """,
    """
    CREATE INDEX deals_live_status_idx ON deals (tenant_id, status, updated_at) WHERE deleted_at IS NULL
    """,
    """
    CREATE INDEX deals_live_updated_idx ON deals (tenant_id, updated_at) WHERE deleted_at IS NULL
    """,
    """
    CREATE INDEX deals_phi_key_version_idx ON deals (tenant_id, phi_key_version) WHERE phi_key_version IS NOT NULL
    """,
    """
    CREATE INDEX deals_tenant_id_idx ON deals (tenant_id)
    """,
    """
    CREATE TABLE security_events (
        id VARCHAR(25) NOT NULL,
        tenant_id VARCHAR(25),
        user_id VARCHAR(25),
        type VARCHAR(40) NOT NULL,
        detail TEXT NOT NULL,
        timestamp VARCHAR(27) NOT NULL,
        device_id VARCHAR(25) NOT NULL,
        seq INTEGER NOT NULL,
        chain_hash VARCHAR(64) NOT NULL,
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT security_events_pkey PRIMARY KEY (id),
        CONSTRAINT security_events_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id),
        CONSTRAINT security_events_user_id_fkey FOREIGN KEY(user_id) REFERENCES users (id)
    )
    """,
    """
    CREATE UNIQUE INDEX security_events_device_seq_key ON security_events (device_id, seq)
    """,
    """
    CREATE INDEX security_events_tenant_ts_idx ON security_events (tenant_id, timestamp)
    """,
    """
    CREATE INDEX security_events_user_id_idx ON security_events (user_id)
    """,
    """
    CREATE TABLE access_logs (
        id VARCHAR(25) NOT NULL,
        user_id VARCHAR(25) NOT NULL,
        deal_id VARCHAR(25) NOT NULL,
        action VARCHAR(16) NOT NULL,
        access_type VARCHAR(16) NOT NULL,
        resource_type TEXT NOT NULL,
        success BOOLEAN NOT NULL,
        timestamp VARCHAR(27) NOT NULL,
        tenant_id VARCHAR(25) NOT NULL,
        device_id VARCHAR(25) NOT NULL,
        seq INTEGER NOT NULL,
        chain_hash VARCHAR(64) NOT NULL,
        reason TEXT,
        row_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT access_logs_pkey PRIMARY KEY (id),
        CONSTRAINT access_logs_user_id_fkey FOREIGN KEY(user_id) REFERENCES users (id),
        CONSTRAINT access_logs_deal_id_fkey FOREIGN KEY(deal_id) REFERENCES deals (id),
        CONSTRAINT access_logs_access_action_check CHECK (action IN ('PHI_ACCESS', 'DEAL_CREATE', 'DEAL_UPDATE', 'DEAL_DELETE')),
        CONSTRAINT access_logs_access_type_check CHECK (access_type IN ('READ', 'WRITE')),
        CONSTRAINT access_logs_tenant_id_fkey FOREIGN KEY(tenant_id) REFERENCES tenants (id)
    )
    """,
    """
    CREATE INDEX access_logs_deal_id_idx ON access_logs (deal_id)
    """,
    """
    CREATE UNIQUE INDEX access_logs_device_seq_key ON access_logs (device_id, seq)
    """,
    """
    CREATE INDEX access_logs_tenant_ts_idx ON access_logs (tenant_id, timestamp)
    """,
    """
    CREATE INDEX access_logs_timestamp_idx ON access_logs (timestamp)
    """,
    """
    CREATE INDEX access_logs_user_id_idx ON access_logs (user_id)
    """,
]

FTS = [
    # External-content FTS5 index over deal titles, kept in step by triggers. Deals
    # keep their rowid (no VACUUM is ever run without an FTS 'rebuild' after it).
    """
    CREATE VIRTUAL TABLE deals_fts USING fts5(
        title, content='deals', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2')
    """,
    """
    CREATE TRIGGER deals_fts_ai AFTER INSERT ON deals BEGIN
        INSERT INTO deals_fts(rowid, title) VALUES (new.rowid, new.title);
    END
    """,
    """
    CREATE TRIGGER deals_fts_ad AFTER DELETE ON deals BEGIN
        INSERT INTO deals_fts(deals_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    END
    """,
    """
    CREATE TRIGGER deals_fts_au AFTER UPDATE OF title ON deals BEGIN
        INSERT INTO deals_fts(deals_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
        INSERT INTO deals_fts(rowid, title) VALUES (new.rowid, new.title);
    END
    """,
]

_ACCESS_COLS = ("id, user_id, deal_id, action, access_type, resource_type, success, timestamp, "
                "tenant_id, device_id, seq, chain_hash, reason")
_EVENT_COLS = "id, tenant_id, user_id, type, detail, timestamp, device_id, seq, chain_hash"


def _append_only(table: str, cols: str) -> list[str]:
    # Logs are append-only: only row_version (set by sync) may change.
    return [
        f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE OF {cols} ON {table} BEGIN
            SELECT RAISE(ABORT, '{table} is append-only');
        END
        """,
        f"""
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN
            SELECT RAISE(ABORT, '{table} is append-only');
        END
        """,
    ]


def upgrade() -> None:
    for stmt in [*TABLES, *FTS, *_append_only("access_logs", _ACCESS_COLS),
                 *_append_only("security_events", _EVENT_COLS)]:
        op.execute(stmt)


def downgrade() -> None:
    raise RuntimeError("Downgrading the local cache is not supported; restore a backup.")
