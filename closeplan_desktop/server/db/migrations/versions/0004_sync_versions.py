"""Commit-ordered versions for sync: every write stamps its rows with the tenant's next
sync_version, once per transaction.

- The first write of a transaction to a tenant's rows bumps `tenants.sync_version` (an
  UPDATE, so it holds that row's lock until commit) and stamps every row the transaction
  writes with the new value (`row_version`). A second writer of the same tenant waits on
  that lock, so versions commit in order per tenant: once version N is visible, every
  version below it is too, and a pull of `row_version > since` up to the tenant's
  committed `sync_version` never skips a row. A plain sequence would not do this
  (sequences hand out numbers in start order and commit out of order).
- `field_versions` on deals and users records, per field, the version that last changed
  it: push finds the fields both sides changed since a mutation's base version from it.
- Each bump sends `NOTIFY closeplan_sync, '<tenant>:<version>'`, delivered at commit, so a
  long-polling pull wakes as soon as a change is visible.
- A write into a tenant outside the current context gets version 0 and is then
  refused by row-level security (the policy and this function see the same tenant).
- The version is cached for the transaction in the local setting closeplan.txn_version,
  keyed by transaction id and tenant, so later writes of the same transaction reuse it.

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

OWNER = "closeplan_owner"
APP = "closeplan_app"

# Tables whose rows sync, besides tenants (the audit tables too: admins pull them).
STAMPED = ("users", "phi_keys", "deals", "devices", "key_grants", "conflicts", "rejections",
           "access_logs", "security_events")
# Per table, the fields whose last change push compares against a base version.
TRACKED = {
    "deals": ("title", "status", "value", "phi", "phi_key_version", "created_by_id",
              "deleted_at"),
    "users": ("email", "first_name", "last_name", "password", "role", "deactivated_at"),
}

FUNCTIONS = """
CREATE FUNCTION next_sync_version(p_tenant text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    cache_key text := pg_current_xact_id()::text || ':' || p_tenant;
    cached text := current_setting('closeplan.txn_version', true);
    v bigint;
BEGIN
    IF cached IS NOT NULL AND split_part(cached, '|', 1) = cache_key THEN
        RETURN split_part(cached, '|', 2)::bigint;
    END IF;
    UPDATE tenants SET sync_version = sync_version + 1 WHERE id = p_tenant
        RETURNING sync_version INTO v;
    IF v IS NULL THEN
        -- The tenant's row is not visible here, so neither is a row of that tenant:
        -- row-level security refuses the write itself, with its own message.
        RETURN 0;
    END IF;
    PERFORM set_config('closeplan.txn_version', cache_key || '|' || v, true);
    PERFORM pg_notify('closeplan_sync', p_tenant || ':' || v);
    RETURN v;
END
$$;

CREATE FUNCTION stamp_row_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    v bigint := next_sync_version(NEW.tenant_id);
    changed jsonb;
BEGIN
    NEW.row_version := v;
    IF TG_NARGS > 0 THEN
        SELECT coalesce(jsonb_object_agg(n.key, v), '{}'::jsonb) INTO changed
            FROM jsonb_each(to_jsonb(NEW)) AS n
            WHERE n.key = ANY (TG_ARGV)
              AND (TG_OP = 'INSERT' OR n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key);
        NEW.field_versions := CASE WHEN TG_OP = 'INSERT' THEN changed
                                   ELSE coalesce(OLD.field_versions, '{}'::jsonb) || changed END;
    END IF;
    RETURN NEW;
END
$$;

-- The tenants row carries the counter itself: the bump (an UPDATE of sync_version alone)
-- passes through; a change to the tenant's own fields takes the transaction's version.
CREATE FUNCTION stamp_tenant_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    cache_key text := pg_current_xact_id()::text || ':' || NEW.id;
    cached text := current_setting('closeplan.txn_version', true);
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.sync_version := 1;
        NEW.row_version := 1;
    ELSIF NEW.sync_version IS DISTINCT FROM OLD.sync_version THEN
        RETURN NEW;
    ELSIF cached IS NOT NULL AND split_part(cached, '|', 1) = cache_key THEN
        NEW.row_version := split_part(cached, '|', 2)::bigint;
        RETURN NEW;
    ELSE
        NEW.sync_version := OLD.sync_version + 1;
        NEW.row_version := NEW.sync_version;
    END IF;
    PERFORM set_config('closeplan.txn_version', cache_key || '|' || NEW.sync_version, true);
    PERFORM pg_notify('closeplan_sync', NEW.id || ':' || NEW.sync_version);
    RETURN NEW;
END
$$;

CREATE TRIGGER tenants_stamp BEFORE INSERT OR UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION stamp_tenant_version();
"""


def _stamp(table: str) -> str:
    fields = TRACKED.get(table, ())
    args = ", ".join(f"'{f}'" for f in fields)
    column = (f"ALTER TABLE {table} ADD COLUMN field_versions jsonb NOT NULL DEFAULT '{{}}';\n"
               if fields else "")
    return (f"{column}CREATE TRIGGER {table}_stamp BEFORE INSERT OR UPDATE ON {table}\n"
            f"    FOR EACH ROW EXECUTE FUNCTION stamp_row_version({args});\n"
            f"CREATE INDEX IF NOT EXISTS {table}_row_version_idx "
            f"ON {table} (tenant_id, row_version);\n")


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(FUNCTIONS)
    for table in STAMPED:
        bind.exec_driver_sql(_stamp(table))
    bind.exec_driver_sql(
        "REVOKE EXECUTE ON FUNCTION next_sync_version(text), stamp_row_version(), "
        f"stamp_tenant_version() FROM PUBLIC;\n"
        f"GRANT EXECUTE ON FUNCTION next_sync_version(text) TO {APP};")


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
