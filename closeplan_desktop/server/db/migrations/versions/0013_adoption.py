"""Tenants made from an existing standalone workspace (issue 12, "Connect").

- `tenants.adopting`: true from the moment a workspace's admin creates the tenant from
  their workspace (`server.adopt`) until that laptop has uploaded its deals and says it is
  done. Only then does the deals import (which keeps the workspace's ids, owners and
  times) close for good; normal push works throughout.
- `setup_codes`: one-time codes an operator issues (`closeplan-server setup-code`) so
  that an admin can create a tenant from their workspace without the operator typing
  the admin's details: the same authority as `create-tenant`. Only hashes are kept. Not
  a tenant table: the app role has no privilege on it and reaches it only through two
  narrow SECURITY DEFINER functions, `issue_setup_code` (the operator's command runs as
  the app role, like `create-tenant`) and `take_setup_code`, which marks a live code
  used in the caller's transaction (so a refused creation, rolled back, leaves the code
  usable).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APP = "closeplan_app"

SQL = f"""
ALTER TABLE tenants ADD COLUMN adopting boolean NOT NULL DEFAULT false;

CREATE TABLE setup_codes (
    code_hash bytea PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    tenant_id text
);

CREATE FUNCTION issue_setup_code(code_hash bytea, valid_hours integer) RETURNS timestamptz
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ INSERT INTO setup_codes (code_hash, expires_at)
          VALUES ($1, clock_timestamp() + make_interval(hours => $2))
          RETURNING expires_at $$;

CREATE FUNCTION take_setup_code(code_hash bytea, tenant_id text) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ WITH taken AS (
              UPDATE setup_codes c SET used_at = clock_timestamp(), tenant_id = $2
              WHERE c.code_hash = $1 AND c.used_at IS NULL
                AND c.expires_at > clock_timestamp()
              RETURNING 1)
          SELECT EXISTS (SELECT 1 FROM taken) $$;

REVOKE ALL ON setup_codes FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION issue_setup_code(bytea, integer), take_setup_code(bytea, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION issue_setup_code(bytea, integer), take_setup_code(bytea, text)
    TO {APP};
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SQL)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
