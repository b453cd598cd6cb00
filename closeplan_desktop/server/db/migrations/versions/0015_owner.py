"""Deal owner, expected close date and probability (issue 15), as on the desktop
(desktop migration 0009_owner; the same column names).

- ``owner_id``: who the deal belongs to now; existing deals get their creator
  (``created_by_id`` stays who created it), as does a new row that names none. NOT
  NULL, with the composite foreign key
  ``(tenant_id, owner_id) -> users`` like ``created_by_id``'s, so no deal can be owned
  across tenants. Push checks that the owner is an active user.
- ``expected_close_date`` (date, nullable) and ``probability`` (0..100, nullable: the
  status default, `deal_default_probability`, the server's one copy of
  `core.domain.probability.DEFAULTS`).
- Indexes on live rows, each ending in id: owner with updated_at ("my deals"), and
  the close date (close-date lists and forecasts).
- The deal stamp (0010) and history triggers (0014) now track the three fields: push
  compares their versions per field (last writer wins), and history records their old
  and new values. A create records the owner only when it is not the creator, and the
  close date and probability only when set (the desktop's rule, `store.history`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Frozen here, as a migration is: core.domain.probability.DEFAULTS (a test compares).
DEFAULTS = {"DRAFT": 10, "ACTIVE": 50, "CLOSED_WON": 100, "CLOSED_LOST": 0}

COLUMNS = """
ALTER TABLE deals ADD COLUMN owner_id text;
ALTER TABLE deals DISABLE TRIGGER deals_stamp_update;
ALTER TABLE deals DISABLE TRIGGER deals_history_update;
UPDATE deals SET owner_id = created_by_id;
ALTER TABLE deals ENABLE TRIGGER deals_stamp_update;
ALTER TABLE deals ENABLE TRIGGER deals_history_update;
ALTER TABLE deals ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE deals ADD CONSTRAINT deals_tenant_id_owner_id_fkey
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id);
ALTER TABLE deals ADD COLUMN expected_close_date date;
ALTER TABLE deals ADD COLUMN probability smallint
    CONSTRAINT deals_probability_range_check CHECK (probability BETWEEN 0 AND 100);
CREATE INDEX deals_live_owner_idx ON deals (tenant_id, owner_id, updated_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_live_close_idx ON deals (tenant_id, expected_close_date, id)
    WHERE deleted_at IS NULL;

-- A writer that names no owner (an older path, a script) makes the creator the owner.
-- The WHEN clause is checked without calling the function, so push's rows, which name
-- their owner, pay nothing for it.
CREATE FUNCTION deal_owner_default() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    NEW.owner_id := NEW.created_by_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER deals_owner_default BEFORE INSERT ON deals FOR EACH ROW
    WHEN (NEW.owner_id IS NULL)
    EXECUTE FUNCTION deal_owner_default();
REVOKE EXECUTE ON FUNCTION deal_owner_default() FROM PUBLIC;
"""


def _default_function() -> str:
    whens = " ".join(f"WHEN '{st}' THEN {pct}" for st, pct in DEFAULTS.items())
    return f"""
CREATE FUNCTION deal_default_probability(p_status deal_status) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, public
    AS $$ SELECT CASE p_status::text {whens} ELSE 0 END $$;
CREATE FUNCTION deal_effective_probability(p_probability smallint, p_status deal_status)
    RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, public
    AS $$ SELECT coalesce(p_probability::integer, deal_default_probability(p_status)) $$;
"""


# 0010's stamp, with the three new fields tracked.
DEAL_FIELDS = {"title": "{}.title", "status": "{}.status", "value": "{}.value",
               "phi": "{}.phi::text", "phi_key_version": "{}.phi_key_version",
               "created_by_id": "{}.created_by_id", "deleted_at": "{}.deleted_at",
               "owner_id": "{}.owner_id", "expected_close_date": "{}.expected_close_date",
               "probability": "{}.probability"}
DEAL_OTHERS = ("tenant_id", "id", "created_at", "updated_at", "row_version",
               "field_versions", "field_devices")


def _row(side: str) -> str:
    cols = [expr.format(side) for expr in DEAL_FIELDS.values()]
    cols += [f"{side}.{c}" for c in DEAL_OTHERS]
    return "(" + ", ".join(cols) + ")"


def _stamp_function() -> str:
    inserted = ", ".join(f"'{name}', v" for name in DEAL_FIELDS)
    checks = "\n".join(
        f"    IF {expr.format('NEW')} IS DISTINCT FROM {expr.format('OLD')} THEN\n"
        f"        changed := changed || jsonb_build_object('{name}', v);\n    END IF;"
        for name, expr in DEAL_FIELDS.items())
    return f"""
CREATE OR REPLACE FUNCTION stamp_deal_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    v bigint;
    changed jsonb := '{{}}'::jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND {_row('NEW')} IS NOT DISTINCT FROM {_row('OLD')} THEN
        RETURN NEW;
    END IF;
    v := next_sync_version(NEW.tenant_id);
    NEW.row_version := v;
    IF TG_OP = 'INSERT' THEN
        NEW.field_versions := jsonb_build_object({inserted});
        RETURN NEW;
    END IF;
{checks}
    NEW.field_versions := coalesce(OLD.field_versions, '{{}}'::jsonb) || changed;
    RETURN NEW;
END
$$;
"""


# History (0014's), in the desktop's field order (store.history.PLAIN_FIELDS).
_PLAIN = {"title": "{}.title", "status": "{}.status::text", "value": "{}.value::text",
          "owner_id": "{}.owner_id", "expected_close_date": "{}.expected_close_date",
          "probability": "{}.probability", "created_by_id": "{}.created_by_id"}
# When a create records each field (always when not named).
_CREATE_WHEN = {"owner_id": "n.owner_id IS DISTINCT FROM n.created_by_id",
                "expected_close_date": "n.expected_close_date IS NOT NULL",
                "probability": "n.probability IS NOT NULL"}


def _entry(field: str, old: str, new: str) -> str:
    return (f"CASE WHEN {new} IS DISTINCT FROM {old} THEN jsonb_build_object("
            f"'field', '{field}', 'old', to_jsonb({old}), 'new', to_jsonb({new})) END")


def _update_entries() -> str:
    parts = [_entry(name, expr.format("o"), expr.format("n")) for name, expr in _PLAIN.items()]
    parts.append("CASE WHEN n.phi::text IS DISTINCT FROM o.phi::text THEN "
                 "jsonb_build_object('field', 'phi', 'changed', true) END")
    return ", ".join(f"({i}, {p})" for i, p in enumerate(parts))


def _create_entries() -> str:
    parts = []
    for name, expr in _PLAIN.items():
        if name == "created_by_id":
            continue
        built = f"jsonb_build_object('field', '{name}', 'new', to_jsonb({expr.format('n')}))"
        when = _CREATE_WHEN.get(name)
        parts.append(f"CASE WHEN {when} THEN {built} END" if when else built)
    parts.append("CASE WHEN n.phi IS NOT NULL THEN "
                 "jsonb_build_object('field', 'phi', 'changed', true) END")
    return ", ".join(f"({i}, {p})" for i, p in enumerate(parts))


def _history_functions() -> str:
    return f"""
CREATE OR REPLACE FUNCTION deal_history_created() RETURNS trigger
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

CREATE OR REPLACE FUNCTION deal_history_changed() RETURNS trigger
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
    WHERE c.flipped OR c.changes <> '[]'::jsonb;
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    # exec_driver_sql takes % as a parameter marker: none of this SQL has one.
    bind.exec_driver_sql(COLUMNS)
    bind.exec_driver_sql(_default_function())
    bind.exec_driver_sql(_stamp_function())
    bind.exec_driver_sql(_history_functions())


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
