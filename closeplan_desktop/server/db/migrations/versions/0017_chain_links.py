"""The server's audit chain one link per statement, and deal history stamped by its own
statement (issue 11, Speed: fourth pass).

**Chain links.** Until now (0005, 0009, 0010) every server-written row of `access_logs`
and `security_events` went through a per-row BEFORE trigger that numbered it and wrote
its hash into it: about half the log rows' insert rate. Now:

- A row gets `server_seq` from the sequence `server_chain_seq` and `server_xact` (its
  transaction) as column defaults, when a tenant context is set: no per-row trigger.
  The numbers rise across tenants, so a tenant's are not 1, 2, 3 any more; their order
  is the chain's. The app role may INSERT every column but these two (column grants), so
  it cannot choose them.
- One AFTER INSERT ... FOR EACH STATEMENT trigger reads the statement's rows from its
  transition table (the session tenant's server rows: no device id) and writes one row
  of `server_chain_links`: its number (1, 2, 3 per tenant and table), the transaction,
  the first and last `server_seq`, the count, the SHA-256 over the rows' canonical forms
  (0005's body: every column but row_version, chain_hash, server_seq; TimeZone UTC) in
  `server_seq` order joined by newlines, the previous link's hash and its own
  (sha256(prev || "\\n" || number, transaction, first, last, count, rows' hash)). Writers
  of a tenant hold its version lock (0004) when the trigger runs, so links are numbered
  in commit order without a lock of their own.
- `server_chain_links` has forced RLS and the tenant policy; the app role has no
  privilege on it (as on `server_chain_heads`). The trigger and `verify_server_chain`
  run as the owner (SECURITY DEFINER).
- The switch: rows chained per row before this migration keep `server_xact` NULL and
  their hashes; `server_chain_heads` (no longer written) records where that chain ends,
  and a tenant's first link continues from that head (GENESIS for a new tenant).
  `verify_server_chain(table)` checks the per-row part as before, then every link over
  its rows (the tenant's server rows of its transaction between its first and last
  number): count, rows' hash, link hash and previous hash; then that no server row of
  the new part is outside every link. `first_bad` is the position (1-based, in chain
  order) of the first row that does not agree.
- `chain_server_row` and `flush_server_chain` stay defined (no trigger calls them), so
  tests/benchmarks/bench_stamps.py can compare with them.

**Deal history** (0014) rows carry their deal's `row_version` (the transaction's
version, as every stamped deal row does), so 0011's WHEN clause skips the per-row stamp
trigger for them, as for push's own rows; and their `changes` are one array expression
per row instead of a VALUES list aggregated in a subquery per row. Same rows, same JSON.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

APP = "closeplan_app"
GENESIS = "0" * 64
TABLES = ("access_logs", "security_events")
# NEW carries the version this transaction took for NEW's tenant (0011's STAMPED).
STAMPED = ("coalesce(current_setting('closeplan.txn_version', true) = "
           "pg_current_xact_id()::text || ':' || NEW.tenant_id || '|' || NEW.row_version, "
           "false)")
# The hash of a link over its fields, as the trigger writes it and verify recomputes it.
LINK_HASH = ("encode(sha256(convert_to({prev} || E'\\n' || {no} || ' ' || {xact} || ' ' || "
             "{first} || ' ' || {last} || ' ' || {count} || ' ' || {rows}, 'UTF8')), 'hex')")
ROWS_HASH = ("encode(sha256(convert_to(string_agg(server_chain_body(to_jsonb({t})), E'\\n' "
             "ORDER BY {t}.server_seq), 'UTF8')), 'hex')")

# Run through exec_driver_sql, which takes % as a parameter marker: %% is a literal %.
LINKS = f"""
CREATE SEQUENCE server_chain_seq AS bigint;
CREATE TABLE server_chain_links (
    tenant_id text NOT NULL REFERENCES tenants (id),
    table_name text NOT NULL CHECK (table_name IN ('access_logs', 'security_events')),
    link_no bigint NOT NULL,
    xact xid8 NOT NULL,
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL,
    row_count integer NOT NULL,
    rows_hash text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (tenant_id, table_name, link_no)
);
ALTER TABLE server_chain_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE server_chain_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON server_chain_links
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

CREATE FUNCTION link_server_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    tenant text := current_tenant_id();
    xact xid8 := pg_current_xact_id();
    n integer;
    lo bigint;
    hi bigint;
    rows_hash text;
    k bigint;
    prev text;
BEGIN
    IF tenant IS NULL THEN
        RETURN NULL;
    END IF;
    -- The statement's server rows of the session's tenant (device rows keep their own
    -- chain; a superuser's rows of another tenant are beyond any check, as in 0005).
    SELECT count(*), min(r.server_seq), max(r.server_seq), {ROWS_HASH.format(t='r')}
        INTO n, lo, hi, rows_hash
        FROM new_rows AS r
        WHERE r.tenant_id = tenant AND r.device_id IS NULL AND r.server_xact = xact;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    -- The tenant's writers hold its version lock here (0004), so this is the last link.
    SELECT l.link_no, l.hash INTO k, prev FROM server_chain_links AS l
        WHERE l.tenant_id = tenant AND l.table_name = TG_TABLE_NAME
        ORDER BY l.link_no DESC LIMIT 1;
    IF NOT FOUND THEN
        -- The first link continues the per-row chain where it stopped.
        SELECT 0, h.head INTO k, prev FROM server_chain_heads AS h
            WHERE h.tenant_id = tenant AND h.table_name = TG_TABLE_NAME;
        IF NOT FOUND THEN
            k := 0;
            prev := '{GENESIS}';
        END IF;
    END IF;
    INSERT INTO server_chain_links (tenant_id, table_name, link_no, xact, first_seq, last_seq,
                                    row_count, rows_hash, prev_hash, hash)
        VALUES (tenant, TG_TABLE_NAME, k + 1, xact, lo, hi, n, rows_hash, prev,
                {LINK_HASH.format(prev='prev', no='(k + 1)', xact='xact', first='lo',
                                  last='hi', count='n', rows='rows_hash')});
    RETURN NULL;
END
$$;

-- The current tenant's server chain of `tbl`, recomputed: the per-row part (0005), then
-- the links. Rows counted, whether all agree, and the position of the first that does not.
CREATE OR REPLACE FUNCTION verify_server_chain(tbl text,
                                    OUT rows bigint, OUT intact boolean, OUT first_bad bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    r record;
    prev text := '{GENESIS}';
    expected bigint := 0;
    head_seq bigint;
    head_hash text;
    legacy bigint;
    linked bigint;
BEGIN
    IF tbl NOT IN ('access_logs', 'security_events') THEN
        RAISE EXCEPTION 'no server chain for that table' USING ERRCODE = '22023';
    END IF;
    rows := 0; intact := true; first_bad := NULL;
    -- The per-row part hashed the rows before server_xact existed.
    FOR r IN EXECUTE format('SELECT server_seq, chain_hash, to_jsonb(t) - ''server_xact'' AS j '
                            'FROM %%I t '
                            'WHERE tenant_id = current_tenant_id() AND server_seq IS NOT NULL '
                            'AND server_xact IS NULL ORDER BY server_seq', tbl) LOOP
        expected := expected + 1;
        rows := rows + 1;
        IF r.server_seq <> expected OR r.chain_hash IS DISTINCT FROM encode(sha256(convert_to(
                prev || E'\\n' || server_chain_body(r.j), 'UTF8')), 'hex') THEN
            intact := false; first_bad := expected;
            RETURN;
        END IF;
        prev := r.chain_hash;
    END LOOP;
    SELECT seq, head INTO head_seq, head_hash FROM server_chain_heads
        WHERE tenant_id = current_tenant_id() AND table_name = tbl;
    IF coalesce(head_seq, 0) <> rows OR coalesce(head_hash, '{GENESIS}') <> prev THEN
        intact := false; first_bad := rows + 1;
        RETURN;
    END IF;
    legacy := rows;
    -- The links, each over its rows (one index range per link).
    expected := 0;
    FOR r IN EXECUTE format(
            $q$SELECT l.*, c.n, c.h FROM server_chain_links l CROSS JOIN LATERAL (
                SELECT count(*) AS n, {ROWS_HASH.format(t='t')} AS h FROM %%I t
                WHERE t.tenant_id = l.tenant_id AND t.server_seq BETWEEN l.first_seq
                  AND l.last_seq AND t.server_xact = l.xact AND t.device_id IS NULL) c
            WHERE l.tenant_id = current_tenant_id() AND l.table_name = $1
            ORDER BY l.link_no$q$, tbl) USING tbl LOOP
        expected := expected + 1;
        IF r.link_no <> expected OR r.prev_hash <> prev OR r.n <> r.row_count
           OR r.h IS DISTINCT FROM r.rows_hash
           OR r.hash <> {LINK_HASH.format(prev='prev', no='r.link_no', xact='r.xact',
                                          first='r.first_seq', last='r.last_seq',
                                          count='r.row_count', rows='r.rows_hash')} THEN
            intact := false; first_bad := rows + 1;
            RETURN;
        END IF;
        rows := rows + r.n;
        prev := r.hash;
    END LOOP;
    -- No server row of the linked part outside every link (one added behind the app's
    -- back, or moved out of its statement's range).
    EXECUTE format('SELECT count(*) FROM %%I t WHERE tenant_id = current_tenant_id() '
                   'AND server_xact IS NOT NULL AND device_id IS NULL', tbl) INTO linked;
    IF linked <> rows - legacy THEN
        intact := false; first_bad := rows + 1;
    END IF;
END
$$;
"""


def _per_table(table: str) -> str:
    return f"""
ALTER TABLE {table} ADD COLUMN server_xact xid8;
ALTER TABLE {table} ALTER COLUMN server_seq SET DEFAULT
    CASE WHEN current_tenant_id() IS NOT NULL THEN nextval('server_chain_seq') END;
ALTER TABLE {table} ALTER COLUMN server_xact SET DEFAULT
    CASE WHEN current_tenant_id() IS NOT NULL THEN pg_current_xact_id() END;
DROP TRIGGER {table}_chain ON {table};
DROP TRIGGER {table}_chain_head ON {table};
CREATE TRIGGER {table}_chain_links AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION link_server_rows();
"""


# Deal history rows carry their deal's version (0015's functions, with row_version).
def _entry(field: str, old: str, new: str) -> str:
    return (f"CASE WHEN {new} IS DISTINCT FROM {old} THEN jsonb_build_object("
            f"'field', '{field}', 'old', to_jsonb({old}), 'new', to_jsonb({new})) END")


# 0015's fields, in the desktop's field order (store.history.PLAIN_FIELDS).
_PLAIN = {"title": "{}.title", "status": "{}.status::text", "value": "{}.value::text",
          "owner_id": "{}.owner_id", "expected_close_date": "{}.expected_close_date",
          "probability": "{}.probability", "created_by_id": "{}.created_by_id"}
# When a create records each field (always when not named), as 0015.
_CREATE_WHEN = {"owner_id": "n.owner_id IS DISTINCT FROM n.created_by_id",
                "expected_close_date": "n.expected_close_date IS NOT NULL",
                "probability": "n.probability IS NOT NULL"}


def _update_entries() -> str:
    parts = [_entry(name, expr.format("o"), expr.format("n")) for name, expr in _PLAIN.items()]
    parts.append("CASE WHEN n.phi::text IS DISTINCT FROM o.phi::text THEN "
                 "jsonb_build_object('field', 'phi', 'changed', true) END")
    return _array(parts)


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
    return _array(parts)


def _array(parts: list[str]) -> str:
    """The entries that are not NULL, in order, as a JSON array: one array expression
    (0014 aggregated a VALUES list in a subquery per row, which cost more)."""
    return f"to_jsonb(array_remove(ARRAY[{', '.join(parts)}], NULL))"


HISTORY = f"""
CREATE OR REPLACE FUNCTION deal_history_created() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    INSERT INTO deal_history (tenant_id, deal_id, op, changes, user_id, row_version)
    SELECT n.tenant_id, n.id, 'create',
           {_create_entries()},
           coalesce(current_user_id(), n.created_by_id), n.row_version
    FROM new_rows n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION deal_history_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    INSERT INTO deal_history (tenant_id, deal_id, op, changes, user_id, row_version)
    SELECT c.tenant_id, c.id, c.op, c.changes, current_user_id(), c.row_version
    FROM (
        SELECT n.tenant_id, n.id, n.row_version,
               CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'delete'
                    WHEN o.deleted_at IS NOT NULL AND n.deleted_at IS NULL THEN 'restore'
                    ELSE 'update' END AS op,
               {_update_entries()} AS changes,
               (n.deleted_at IS NULL) IS DISTINCT FROM (o.deleted_at IS NULL) AS flipped
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    ) AS c
    -- A write that changed nothing history shows (only updated_at, or re-stamping)
    -- records nothing.
    WHERE c.flipped OR c.changes <> '[]'::jsonb;
    RETURN NULL;
END
$$;

-- A row that carries its transaction's version is not stamped again (0011's rule); any
-- other (an unstamped deal's, say) is stamped as before.
DROP TRIGGER deal_history_stamp ON deal_history;
CREATE TRIGGER deal_history_stamp BEFORE INSERT ON deal_history FOR EACH ROW
    WHEN (NOT {STAMPED})
    EXECUTE FUNCTION stamp_plain_version();
CREATE TRIGGER deal_history_stamp_update BEFORE UPDATE ON deal_history FOR EACH ROW
    EXECUTE FUNCTION stamp_plain_version();
"""


def _grants(bind: object, table: str) -> str:
    """INSERT on every column of `table` but the chain's own, for the app role."""
    rows = bind.exec_driver_sql(  # type: ignore[attr-defined]
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        f"AND table_name = '{table}' AND is_generated = 'NEVER' AND column_name NOT IN "
        "('server_seq', 'server_xact') ORDER BY ordinal_position").fetchall()
    columns = ", ".join(f'"{r[0]}"' for r in rows)
    return (f"REVOKE INSERT ON {table} FROM {APP};\n"
            f"GRANT INSERT ({columns}) ON {table} TO {APP};\n")


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(LINKS)
    for table in TABLES:
        bind.exec_driver_sql(_per_table(table))
        bind.exec_driver_sql(_grants(bind, table))
    bind.exec_driver_sql(
        f"GRANT USAGE ON SEQUENCE server_chain_seq TO {APP};\n"
        "REVOKE EXECUTE ON FUNCTION link_server_rows() FROM PUBLIC;\n"
        "REVOKE EXECUTE ON FUNCTION verify_server_chain(text) FROM PUBLIC;\n"
        f"GRANT EXECUTE ON FUNCTION verify_server_chain(text) TO {APP};\n")
    # The sequence starts above every number the per-row chain gave (the unique index
    # is per tenant and number); read as the session's superuser, past RLS.
    bind.exec_driver_sql("RESET ROLE")
    bind.exec_driver_sql(
        "SELECT setval('server_chain_seq', greatest(1, (SELECT max(server_seq) FROM "
        "access_logs), (SELECT max(server_seq) FROM security_events)) + 1, false)")
    bind.exec_driver_sql("SET ROLE closeplan_owner")
    bind.exec_driver_sql(HISTORY)


def downgrade() -> None:
    raise RuntimeError("The server schema is not downgraded; restore a backup.")
