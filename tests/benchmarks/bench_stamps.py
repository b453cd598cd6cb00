"""What the server's row triggers cost (issue 11, Speed): rows/s of one multi-row statement
as the app role under RLS, with 0009's version stamp (`to_jsonb` field versions), with
0010's, stamped by the statement itself (0011: push's bulk path) and with no stamp; deal
writes with 0014's history triggers (history rows stamped per row), with 0017's (history
rows carry their deal's version) and without history; and access-log rows with the
server chain per row (0005-0010), per statement writing the numbers back (tried in the
third pass and not kept: it has to UPDATE the rows it numbers), as 0017's links (numbers
from a sequence default, one link row per statement) and without a chain.

    .venv/bin/python tests/benchmarks/bench_stamps.py [--rows 3000] [--rounds 5]

It makes a private PostgreSQL 15 cluster (fsync off, like the tests), migrates it, and
swaps the triggers of `deals` and `access_logs` between the variants in turn (rounds
interleave them, so the machine's load falls on all alike); each round inserts `--rows`
deals in one statement, updates them in one, and inserts as many access-log rows (each
statement in a transaction of its own that has taken the tenant's version first, as
push does).
Prints the median rows/s of each. No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from typing import Any

import psycopg
from bench_push import (  # the sibling module (the script's folder is on sys.path)
    SUPERUSER,
    bench_database,
    make_lane,
)

# The tried statement-level chain, made in the benchmark's database only.
STATEMENT_CHAIN = r"""
CREATE FUNCTION chain_server_statement() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    tenant text := current_tenant_id();
    ids text[];
    bodies text[];
    seqs bigint[];
    hashes text[];
    n bigint;
    h text;
BEGIN
    IF tenant IS NULL THEN
        RETURN NULL;
    END IF;
    -- The statement's server rows in insertion order (a transition table is read in
    -- the order its rows were written). The body leaves out server_seq and chain_hash.
    SELECT array_agg(r.id), array_agg(server_chain_body(to_jsonb(r)))
        INTO ids, bodies
        FROM new_rows AS r
        WHERE r.device_id IS NULL AND r.tenant_id = tenant;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT seq, head INTO n, h FROM server_chain_heads
        WHERE tenant_id = tenant AND table_name = TG_TABLE_NAME FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO server_chain_heads (tenant_id, table_name, seq, head)
            VALUES (tenant, TG_TABLE_NAME, 0, repeat('0', 64))
            ON CONFLICT (tenant_id, table_name) DO NOTHING;
        SELECT seq, head INTO n, h FROM server_chain_heads
            WHERE tenant_id = tenant AND table_name = TG_TABLE_NAME FOR UPDATE;
    END IF;
    seqs := array_fill(0::bigint, ARRAY[cardinality(ids)]);
    hashes := array_fill(''::text, ARRAY[cardinality(ids)]);
    FOR i IN 1 .. cardinality(ids) LOOP
        n := n + 1;
        h := encode(sha256(convert_to(h || E'\n' || bodies[i], 'UTF8')), 'hex');
        seqs[i] := n;
        hashes[i] := h;
    END LOOP;
    EXECUTE format('UPDATE %I AS t SET server_seq = u.s, chain_hash = u.h '
                   'FROM unnest($1, $2, $3) AS u(i, s, h) '
                   'WHERE t.tenant_id = $4 AND t.id = u.i', TG_TABLE_NAME)
        USING ids, seqs, hashes, tenant;
    UPDATE server_chain_heads SET seq = n, head = h
        WHERE tenant_id = tenant AND table_name = TG_TABLE_NAME;
    RETURN NULL;
END
$$;
"""
OLD_DEAL = ("stamp_row_version('title', 'status', 'value', 'phi', 'phi_key_version', "
            "'created_by_id', 'deleted_at')")
# 0011's checks: the row carries the version its transaction took (server migration 0011).
STAMPED = ("coalesce(current_setting('closeplan.txn_version', true) = "
           "pg_current_xact_id()::text || ':' || NEW.tenant_id || '|' || NEW.row_version, "
           "false)")
# 0014's history functions (history rows stamped one by one), beside 0017's.
_HISTORY_0014 = importlib.import_module(
    "closeplan_desktop.server.db.migrations.versions.0014_activities")._history_functions()
HISTORY_0014 = (_HISTORY_0014[:_HISTORY_0014.index("CREATE TRIGGER deals_history_insert")]
                .replace("FUNCTION deal_history_", "FUNCTION old_deal_history_"))
HISTORY = {
    "0014": ("CREATE TRIGGER deals_history_insert AFTER INSERT ON deals REFERENCING NEW TABLE "
             "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION old_deal_history_created()",
             "CREATE TRIGGER deals_history_update AFTER UPDATE ON deals REFERENCING OLD TABLE "
             "AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
             "old_deal_history_changed()"),
    "0017": ("CREATE TRIGGER deals_history_insert AFTER INSERT ON deals REFERENCING NEW TABLE "
             "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_history_created()",
             "CREATE TRIGGER deals_history_update AFTER UPDATE ON deals REFERENCING OLD TABLE "
             "AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
             "deal_history_changed()"),
    "none": (),
}
# Per variant: the stamp triggers, whether the statements stamp their rows, the chain.
STAMPS = {
    "0009": (f"CREATE TRIGGER deals_stamp BEFORE INSERT OR UPDATE ON deals FOR EACH ROW "
             f"EXECUTE FUNCTION {OLD_DEAL}",
             "CREATE TRIGGER access_logs_stamp BEFORE INSERT OR UPDATE ON access_logs "
             "FOR EACH ROW EXECUTE FUNCTION stamp_row_version()"),
    "0010": ("CREATE TRIGGER deals_stamp BEFORE INSERT OR UPDATE ON deals FOR EACH ROW "
             "EXECUTE FUNCTION stamp_deal_version()",
             "CREATE TRIGGER access_logs_stamp BEFORE INSERT OR UPDATE ON access_logs "
             "FOR EACH ROW EXECUTE FUNCTION stamp_plain_version()"),
    "0011": (f"CREATE TRIGGER deals_stamp BEFORE INSERT ON deals FOR EACH ROW "
             f"WHEN (NOT {STAMPED}) EXECUTE FUNCTION stamp_deal_version()",
             f"CREATE TRIGGER deals_stamp_update BEFORE UPDATE ON deals FOR EACH ROW "
             f"WHEN (NOT (NEW.row_version IS DISTINCT FROM OLD.row_version AND {STAMPED})) "
             f"EXECUTE FUNCTION stamp_deal_version()",
             f"CREATE TRIGGER access_logs_stamp BEFORE INSERT ON access_logs FOR EACH ROW "
             f"WHEN (NOT {STAMPED}) EXECUTE FUNCTION stamp_plain_version()"),
    # The statement chain UPDATEs the rows it numbers: logs stamped on INSERT only.
    "0010, logs on INSERT": ("CREATE TRIGGER deals_stamp BEFORE INSERT OR UPDATE ON deals "
                             "FOR EACH ROW EXECUTE FUNCTION stamp_deal_version()",
                             "CREATE TRIGGER access_logs_stamp BEFORE INSERT ON access_logs "
                             "FOR EACH ROW EXECUTE FUNCTION stamp_plain_version()"),
    "none": (),
}
CHAIN = {
    "row": ("CREATE TRIGGER access_logs_chain BEFORE INSERT ON access_logs "
            "FOR EACH ROW EXECUTE FUNCTION chain_server_row()",
            "CREATE TRIGGER access_logs_chain_head AFTER INSERT ON access_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION flush_server_chain()"),
    "statement": ("CREATE TRIGGER access_logs_chain AFTER INSERT ON access_logs "
                  "REFERENCING NEW TABLE AS new_rows "
                  "FOR EACH STATEMENT EXECUTE FUNCTION chain_server_statement()",),
    "links": ("CREATE TRIGGER access_logs_chain_links AFTER INSERT ON access_logs "
              "REFERENCING NEW TABLE AS new_rows "
              "FOR EACH STATEMENT EXECUTE FUNCTION link_server_rows()",),
    "none": (),
}
# Name: stamps, stamped by the statement, chain, deal history.
VARIANTS: dict[str, tuple[str, bool, str, str]] = {
    "0009 stamps, chain per row, 0014 history": ("0009", False, "row", "0014"),
    "0010 stamps, chain per row, 0014 history": ("0010", False, "row", "0014"),
    "0011: stamped by the statement, chain per row, 0014 history (main before 0017)": (
        "0011", True, "row", "0014"),
    "0011, chain per row, no history": ("0011", True, "row", "none"),
    "0011, chain per row, 0017 history": ("0011", True, "row", "0017"),
    "0010 stamps, chain per statement written back (tried, not kept)": (
        "0010, logs on INSERT", False, "statement", "0014"),
    "0017: 0011 stamps, chain links, 0017 history": ("0011", True, "links", "0017"),
    "no stamp, no chain, no history": ("none", False, "none", "none"),
}
TRIGGERS = {"deals_stamp": "deals", "deals_stamp_update": "deals",
            "deals_history_insert": "deals", "deals_history_update": "deals",
            "access_logs_stamp": "access_logs", "access_logs_stamp_update": "access_logs",
            "access_logs_chain": "access_logs", "access_logs_chain_head": "access_logs",
            "access_logs_chain_links": "access_logs"}


def configure(su: psycopg.Connection, stamps: str, chain: str, history: str) -> None:
    for trigger, table in TRIGGERS.items():
        su.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for statement in STAMPS[stamps] + CHAIN[chain] + HISTORY[history]:
        su.execute(statement)


def timed(app: psycopg.Connection, tenant_id: str, sql: str, params: dict[str, Any]) -> float:
    """Seconds of one statement in a transaction that took the tenant's version first."""
    version = app.execute("SELECT set_tenant_context(%s), next_sync_version(%s)",
                          (tenant_id, tenant_id)).fetchone()
    assert version is not None
    t0 = time.perf_counter()
    app.execute(sql, {**params, "r": version[1]})
    took = time.perf_counter() - t0
    app.commit()
    return took


def statements(stamped: bool) -> tuple[str, str, str]:
    """The deal INSERT, deal UPDATE and access-log INSERT, stamping their rows or not
    (the stamped ones as push_bulk and Context.flush_logs write them)."""
    fv = ("jsonb_build_object('title', %(r)s, 'status', %(r)s, 'value', %(r)s, 'phi', %(r)s, "
          "'phi_key_version', %(r)s, 'created_by_id', %(r)s, 'deleted_at', %(r)s)")
    insert = ("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id"
              + (", row_version, field_versions" if stamped else "")
              + ") SELECT current_tenant_id(), %(tag)s || g, 'Deal', 'DRAFT', g, %(user)s"
              + (f", %(r)s, {fv}" if stamped else "")
              + " FROM generate_series(1, %(n)s) g")
    update = ("UPDATE deals AS d SET status = 'ACTIVE', value = value + 1, updated_at = now()"
              + (", row_version = %(r)s, field_versions = d.field_versions || "
                 "jsonb_strip_nulls(jsonb_build_object('status', CASE WHEN 'ACTIVE' IS "
                 "DISTINCT FROM d.status THEN %(r)s END, 'value', CASE WHEN d.value + 1 IS "
                 "DISTINCT FROM d.value THEN %(r)s END))" if stamped else "")
              + " WHERE tenant_id = current_tenant_id() AND id LIKE %(tag)s || '%%'")
    log = ("INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, access_type, "
           "resource_type, success" + (", row_version" if stamped else "")
           + ") SELECT current_tenant_id(), %(tag)s || g, %(user)s, %(tag)s || g, "
           "'DEAL_CREATE', 'WRITE', 'deal', true" + (", %(r)s" if stamped else "")
           + " FROM generate_series(1, %(n)s) g")
    return insert, update, log


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    n = args.rows
    kinds = ("deal INSERT", "deal UPDATE", "access-log INSERT")
    rates: dict[str, dict[str, list[float]]] = {
        name: {kind: [] for kind in kinds} for name in VARIANTS}
    with bench_database("stamps") as dsn_app:
        with psycopg.connect(dsn_app, autocommit=True) as conn:
            lane = make_lane(conn, 0)
        with psycopg.connect(SUPERUSER[dsn_app], autocommit=True) as su, \
                psycopg.connect(dsn_app) as app:
            su.execute("SET ROLE closeplan_owner")
            su.execute(STATEMENT_CHAIN + HISTORY_0014)
            # The per-row chain numbers 1, 2, 3 per tenant: the sequence's numbers (0017)
            # start far above them, so the variants never collide in the unique index.
            su.execute("SELECT setval('server_chain_seq', 1000000000000)")
            for r in range(args.rounds):
                for v, (name, (stamps, stamped, chain, history)) in enumerate(VARIANTS.items()):
                    configure(su, stamps, chain, history)
                    params = {"tag": f"r{r}v{v}-", "user": lane.user_id, "n": n}
                    for kind, sql in zip(kinds, statements(stamped), strict=True):
                        rates[name][kind].append(n / timed(app, lane.tenant_id, sql, params))
    print("| triggers | " + " | ".join(f"{k} rows/s" for k in kinds) + " |")
    print("|---|---|---|---|")
    for name, got in rates.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(v):,.0f}" for v in got.values())
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
