"""Deal activities and deal history (issue 15), with row-level security like every
tenant table.

- ``deal_activities``: non-PHI notes, calls, meetings, emails, tasks and next steps on
  a deal, pushed by the desktops (a create appends; an edit is last writer wins per
  field, in arrival order); soft-deleted. The app role may read, insert and update.
- ``deal_history``: per change to a deal, its op and the fields it changed, with old and
  new values for plain fields and only ``{"field": "phi", "changed": true}`` for PHI
  (the desktop's `core.store.history` shape). Written by triggers on ``deals`` in the
  transaction of the change, so every path that writes a deal (push one by one, push in
  bulk, a merge) records it without knowing about it; statement-level triggers with
  transition tables, so a bulk push adds one INSERT per statement, not per row. The
  app role may only read and insert (append-only). The actor is the transaction's user
  context (``current_user_id()``).
- Both are stamped with the tenant's sync version (0010's ``stamp_plain_version``), so
  pull and bootstrap carry them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

APP = "closeplan_app"
KINDS = "'NOTE', 'CALL', 'MEETING', 'EMAIL', 'TASK', 'NEXT_STEP'"
MAX_BODY = 1000  # core.domain.validation.MAX_ACTIVITY

TABLES = f"""
CREATE TABLE deal_activities (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL,
    deal_id text NOT NULL,
    kind text NOT NULL CONSTRAINT deal_activities_kind_check CHECK (kind IN ({KINDS})),
    body text NOT NULL CONSTRAINT deal_activities_body_check
        CHECK (char_length(body) BETWEEN 1 AND {MAX_BODY}),
    due_at timestamptz,
    done_at timestamptz,
    created_by_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    row_version bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX deal_activities_deal_idx ON deal_activities (tenant_id, deal_id, created_at);
CREATE INDEX deal_activities_row_version_idx ON deal_activities (tenant_id, row_version);

CREATE TABLE deal_history (
    tenant_id text NOT NULL REFERENCES tenants (id),
    id text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    deal_id text NOT NULL,
    op text NOT NULL CONSTRAINT deal_history_op_check
        CHECK (op IN ('create', 'update', 'delete', 'restore')),
    changes jsonb NOT NULL DEFAULT '[]',
    user_id text,
    -- clock_timestamp, not now(): a push writes a deal's create and its update in one
    -- transaction, and the history must keep their order.
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    row_version bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, deal_id) REFERENCES deals (tenant_id, id)
);
CREATE INDEX deal_history_deal_idx ON deal_history (tenant_id, deal_id, created_at);
CREATE INDEX deal_history_row_version_idx ON deal_history (tenant_id, row_version);
"""


def _isolation(table: str) -> str:
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table}
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
CREATE TRIGGER {table}_stamp BEFORE INSERT OR UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION stamp_plain_version();
"""


# One entry per changed plain field (old and new as JSON text), then PHI as changed only.
def _entry(field: str, old: str, new: str) -> str:
    return (f"CASE WHEN {new} IS DISTINCT FROM {old} THEN jsonb_build_object("
            f"'field', '{field}', 'old', to_jsonb({old}), 'new', to_jsonb({new})) END")


_PLAIN = {"title": "{}.title", "status": "{}.status::text", "value": "{}.value::text",
          "created_by_id": "{}.created_by_id"}


def _update_entries() -> str:
    parts = [_entry(name, expr.format("o"), expr.format("n")) for name, expr in _PLAIN.items()]
    parts.append("CASE WHEN n.phi::text IS DISTINCT FROM o.phi::text THEN "
                 "jsonb_build_object('field', 'phi', 'changed', true) END")
    return ", ".join(f"({i}, {p})" for i, p in enumerate(parts))


def _create_entries() -> str:
    parts = [f"jsonb_build_object('field', '{name}', 'new', to_jsonb({expr.format('n')}))"
             for name, expr in _PLAIN.items() if name != "created_by_id"]
    parts.append("CASE WHEN n.phi IS NOT NULL THEN "
                 "jsonb_build_object('field', 'phi', 'changed', true) END")
    return ", ".join(f"({i}, {p})" for i, p in enumerate(parts))


def _history_functions() -> str:
    return f"""
CREATE FUNCTION deal_history_created() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    INSERT INTO deal_history (tenant_id, deal_id, op, changes, user_id)
    SELECT n.tenant_id, n.id, 'create',
           (SELECT coalesce(jsonb_agg(e.entry ORDER BY e.ord), '[]'::jsonb)
              FROM (VALUES {_create_entries()}) AS e(ord, entry) WHERE e.entry IS NOT NULL),
           coalesce(current_user_id(), n.created_by_id)
    FROM new_rows n;
    RETURN NULL;
END
$$;

CREATE FUNCTION deal_history_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    INSERT INTO deal_history (tenant_id, deal_id, op, changes, user_id)
    SELECT c.tenant_id, c.id, c.op, c.changes, current_user_id()
    FROM (
        SELECT n.tenant_id, n.id,
               CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'delete'
                    WHEN o.deleted_at IS NOT NULL AND n.deleted_at IS NULL THEN 'restore'
                    ELSE 'update' END AS op,
               (SELECT coalesce(jsonb_agg(e.entry ORDER BY e.ord), '[]'::jsonb)
                  FROM (VALUES {_update_entries()}) AS e(ord, entry)
                  WHERE e.entry IS NOT NULL) AS changes,
               (n.deleted_at IS NULL) IS DISTINCT FROM (o.deleted_at IS NULL) AS flipped
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    ) AS c
    -- A write that changed nothing history shows (only updated_at, or re-stamping)
    -- records nothing.
    WHERE c.flipped OR c.changes <> '[]'::jsonb;
    RETURN NULL;
END
$$;

CREATE TRIGGER deals_history_insert AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deal_history_created();
CREATE TRIGGER deals_history_update AFTER UPDATE ON deals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deal_history_changed();
REVOKE EXECUTE ON FUNCTION deal_history_created(), deal_history_changed() FROM PUBLIC;
"""


GRANTS = f"""
GRANT SELECT, INSERT, UPDATE ON deal_activities TO {APP};
GRANT SELECT, INSERT ON deal_history TO {APP};
"""


def upgrade() -> None:
    bind = op.get_bind()
    # exec_driver_sql takes % as a parameter marker: none of this SQL has one.
    bind.exec_driver_sql(TABLES)
    for table in ("deal_activities", "deal_history"):
        bind.exec_driver_sql(_isolation(table))
    bind.exec_driver_sql(_history_functions())
    bind.exec_driver_sql(GRANTS)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
