"""The seed's tables and enums, plus what sync needs.

Every tenant table is keyed (tenant_id, id) and every reference into a tenant table is a
composite foreign key that includes tenant_id, so no row can point into another tenant
(the seed's schema-level isolation; also what Citus needs to co-locate by tenant_id).
Names follow the seed (snake_case); columns the desktop mirror has keep its names.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Time columns: when the row was made, by the server's clock.
_CREATED = "created_at timestamptz NOT NULL DEFAULT now()"
_UPDATED = "updated_at timestamptz NOT NULL DEFAULT now()"
_ROW_VERSION = "row_version bigint NOT NULL DEFAULT 0"

SCHEMA = f"""
CREATE TYPE user_role AS ENUM ('ADMIN', 'USER');
CREATE TYPE deal_status AS ENUM ('DRAFT', 'ACTIVE', 'CLOSED_WON', 'CLOSED_LOST');
CREATE TYPE access_action AS ENUM ('PHI_ACCESS', 'DEAL_CREATE', 'DEAL_UPDATE', 'DEAL_DELETE');
CREATE TYPE access_type AS ENUM ('READ', 'WRITE');
CREATE TYPE phi_key_state AS ENUM ('ACTIVE', 'DECRYPT_ONLY', 'RETIRED');
CREATE TYPE device_status AS ENUM ('PENDING', 'ACTIVE', 'REVOKED');
CREATE TYPE grantee_kind AS ENUM ('DEVICE', 'USER', 'SERVER');
CREATE TYPE session_kind AS ENUM ('ACCESS', 'REFRESH');

-- sync_version: the tenant's commit-ordered change counter (each write transaction bumps
-- it under the row lock and stamps the rows it changes with it: row_version).
CREATE TABLE tenants (
    id text PRIMARY KEY,
    name text NOT NULL,
    domain text,
    {_CREATED},
    {_UPDATED},
    sync_version bigint NOT NULL DEFAULT 0,
    {_ROW_VERSION}
);
CREATE INDEX tenants_domain_idx ON tenants (domain);

CREATE TABLE users (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    email text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    password text NOT NULL,
    role user_role NOT NULL DEFAULT 'USER',
    {_CREATED},
    {_UPDATED},
    deactivated_at timestamptz,
    last_login_at timestamptz,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email)
);
CREATE INDEX users_email_idx ON users (email);
CREATE INDEX users_tenant_id_idx ON users (tenant_id);
CREATE INDEX users_row_version_idx ON users (tenant_id, row_version);

-- The seed's global email uniqueness: email -> tenant, for sign-in before the tenant is
-- known. Not a tenant table: the API role has no privilege on it and reaches it only
-- through tenant_for_email() (0002); triggers on users keep it (a reference table on
-- Citus).
CREATE TABLE email_directory (
    email text PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL
);

CREATE TABLE phi_keys (
    tenant_id text NOT NULL REFERENCES tenants (id),
    version integer NOT NULL CHECK (version > 0),
    state phi_key_state NOT NULL,
    {_CREATED},
    retired_at timestamptz,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, version)
);

-- value: the seed's Decimal, exact; value_cents: the same in integer cents, because
-- numeric comparisons are not leakproof and cannot use an index under RLS.
-- phi: the desktop's envelope, unchanged; phi_nonce: its nonce, by which decrypt_phi
-- finds the deal an envelope belongs to.
CREATE TABLE deals (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    title text NOT NULL,
    status deal_status NOT NULL,
    value numeric(16, 2) NOT NULL CONSTRAINT deals_value_nonnegative_check CHECK (value >= 0),
    value_cents bigint GENERATED ALWAYS AS ((value * 100)::bigint) STORED,
    phi json,
    phi_nonce bytea GENERATED ALWAYS AS (decode(phi ->> 'n', 'base64')) STORED,
    phi_key_version integer,
    created_by_id text NOT NULL,
    {_CREATED},
    {_UPDATED},
    deleted_at timestamptz,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, phi_key_version) REFERENCES phi_keys (tenant_id, version)
);
CREATE INDEX deals_tenant_id_idx ON deals (tenant_id);
CREATE INDEX deals_created_by_id_idx ON deals (tenant_id, created_by_id);
CREATE UNIQUE INDEX deals_phi_nonce_key ON deals (tenant_id, phi_nonce)
    WHERE phi_nonce IS NOT NULL;
CREATE INDEX deals_row_version_idx ON deals (tenant_id, row_version);
CREATE INDEX deals_live_updated_idx ON deals (tenant_id, updated_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_live_status_idx ON deals (tenant_id, status, updated_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_live_title_idx ON deals (tenant_id, title, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_live_value_idx ON deals (tenant_id, value_cents, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_live_created_idx ON deals (tenant_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_deleted_idx ON deals (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX deals_phi_key_version_idx ON deals (tenant_id, phi_key_version)
    WHERE phi_key_version IS NOT NULL;

-- last_mutation_id: the last push mutation applied from this device, written in the
-- transaction of its effect, so a replayed push is a no-op.
CREATE TABLE devices (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL,
    status device_status NOT NULL DEFAULT 'PENDING',
    sign_public_key bytea,
    kem_public_key bytea,
    approval_code_hash bytea,
    approved_by_id text,
    {_CREATED},
    approved_at timestamptz,
    revoked_at timestamptz,
    last_seen_at timestamptz,
    last_mutation_id bigint NOT NULL DEFAULT 0,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, approved_by_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX devices_user_id_idx ON devices (tenant_id, user_id);

-- Opaque tokens are stored only as hashes.
CREATE TABLE sessions (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    user_id text NOT NULL,
    device_id text,
    kind session_kind NOT NULL,
    token_hash bytea NOT NULL,
    {_CREATED},
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_token_hash_key UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX sessions_live_user_idx ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;

-- A PHI key version wrapped for one grantee (a device, a user, or the server's escrow
-- key); the server stores wrapped keys only.
CREATE TABLE key_grants (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    key_version integer NOT NULL,
    grantee_kind grantee_kind NOT NULL,
    grantee_id text NOT NULL,
    wrapped bytea NOT NULL CHECK (octet_length(wrapped) BETWEEN 48 AND 512),
    granted_by_id text,
    {_CREATED},
    revoked_at timestamptz,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, key_version) REFERENCES phi_keys (tenant_id, version),
    FOREIGN KEY (tenant_id, granted_by_id) REFERENCES users (tenant_id, id)
);
CREATE UNIQUE INDEX key_grants_live_grantee_key
    ON key_grants (tenant_id, key_version, grantee_kind, grantee_id) WHERE revoked_at IS NULL;

-- The seed's access log. deal_id names the deal without a foreign key: a log row records
-- attempts too, and the desktop logs a denied attempt with the id it was asked for (of
-- another tenant, or of no deal); its chain hash covers that id, so it is kept as sent.
-- device_id and seq: the uploading device's chain (NULL for rows the server writes).
CREATE TABLE access_logs (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    user_id text NOT NULL,
    deal_id text,
    action access_action NOT NULL,
    access_type access_type NOT NULL,
    resource_type text NOT NULL,
    success boolean NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp(),
    device_id text,
    seq bigint,
    chain_hash text,
    reason text,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id),
    CONSTRAINT access_logs_device_seq_check CHECK ((device_id IS NULL) = (seq IS NULL))
);
CREATE INDEX access_logs_user_id_idx ON access_logs (tenant_id, user_id);
CREATE INDEX access_logs_deal_id_idx ON access_logs (tenant_id, deal_id);
CREATE INDEX access_logs_timestamp_idx ON access_logs (tenant_id, "timestamp");
CREATE UNIQUE INDEX access_logs_device_seq_key ON access_logs (tenant_id, device_id, seq);

CREATE TABLE security_events (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    user_id text,
    type text NOT NULL,
    detail text NOT NULL DEFAULT '{{}}',
    "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp(),
    device_id text,
    seq bigint,
    chain_hash text,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id),
    CONSTRAINT security_events_device_seq_check CHECK ((device_id IS NULL) = (seq IS NULL))
);
CREATE INDEX security_events_tenant_ts_idx ON security_events (tenant_id, "timestamp");
CREATE INDEX security_events_user_id_idx ON security_events (tenant_id, user_id);
CREATE UNIQUE INDEX security_events_device_seq_key
    ON security_events (tenant_id, device_id, seq);

-- A field both sides changed since the pushed mutation's base version; the losing value
-- (for PHI, the losing envelope) is kept, never dropped.
CREATE TABLE conflicts (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    table_name text NOT NULL,
    row_id text NOT NULL,
    field text NOT NULL,
    base_version bigint,
    server_version bigint NOT NULL,
    kept_value jsonb,
    losing_value jsonb,
    device_id text,
    mutation_id bigint,
    {_CREATED},
    resolved_at timestamptz,
    resolved_by_id text,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id),
    FOREIGN KEY (tenant_id, resolved_by_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX conflicts_row_idx ON conflicts (tenant_id, table_name, row_id);
CREATE INDEX conflicts_open_idx ON conflicts (tenant_id, created_at) WHERE resolved_at IS NULL;

-- A pushed mutation the server refused for good (it still advances last_mutation_id).
CREATE TABLE rejections (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    device_id text NOT NULL,
    mutation_id bigint NOT NULL,
    table_name text NOT NULL,
    row_id text,
    op text NOT NULL,
    code text NOT NULL,
    message text NOT NULL,
    fields jsonb,
    {_CREATED},
    acknowledged_at timestamptz,
    {_ROW_VERSION},
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT rejections_mutation_key UNIQUE (tenant_id, device_id, mutation_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);

-- An uploaded run of one device's audit chain, signed by the device (Ed25519).
CREATE TABLE audit_batches (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    device_id text NOT NULL,
    table_name text NOT NULL CHECK (table_name IN ('access_logs', 'security_events')),
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL,
    last_chain_hash text NOT NULL,
    batch_hash bytea NOT NULL,
    signature bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT audit_batches_seq_check CHECK (last_seq >= first_seq),
    CONSTRAINT audit_batches_first_seq_key UNIQUE (tenant_id, device_id, table_name, first_seq),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);

-- The server's signed receipt of a batch, which the device keeps.
CREATE TABLE audit_receipts (
    tenant_id text NOT NULL REFERENCES tenants (id),
    batch_id text NOT NULL,
    server_key_id text NOT NULL,
    receipt bytea NOT NULL,
    signature bytea NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, batch_id),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES audit_batches (tenant_id, id)
);
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SCHEMA)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
