"""What the server's row triggers cost (issue 11, Speed): rows/s of one multi-row statement
as the app role under RLS, with 0009's version stamp (`to_jsonb` field versions), with
0010's, and with no stamp; and access-log rows with the server chain per row (0005-0010),
per statement (0011) and without it.

    .venv/bin/python tests/benchmarks/bench_stamps.py [--rows 3000] [--rounds 5]

It makes a private PostgreSQL 15 cluster (fsync off, like the tests), migrates it, and
swaps the triggers of `deals` and `access_logs` between the variants in turn (rounds
interleave them, so the machine's load falls on all alike); each round inserts `--rows`
deals in one statement, updates them in one, and inserts as many access-log rows.
Prints the median rows/s of each. No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import psycopg
from bench_push import (  # the sibling module (the script's folder is on sys.path)
    SUPERUSER,
    bench_database,
    make_lane,
)

# Per variant, the stamp trigger of each table (None: none) and the server chain: per
# row (0005-0010), per statement (0011) or none.
OLD_DEAL = ("stamp_row_version('title', 'status', 'value', 'phi', 'phi_key_version', "
            "'created_by_id', 'deleted_at')")
VARIANTS: dict[str, tuple[str | None, str | None, str | None]] = {
    "0009 stamps, chain per row": (OLD_DEAL, "stamp_row_version()", "row"),
    "0010 stamps, chain per row": ("stamp_deal_version()", "stamp_plain_version()", "row"),
    "0010 stamps, chain per statement (0011)": ("stamp_deal_version()",
                                                "stamp_insert_version()", "statement"),
    "no stamp, chain per statement": (None, None, "statement"),
    "no stamp, no chain": (None, None, None),
}
CURRENT = "0010 stamps, chain per statement (0011)"
CHAIN = {
    "row": ("CREATE TRIGGER access_logs_chain BEFORE INSERT ON access_logs "
            "FOR EACH ROW EXECUTE FUNCTION chain_server_row()",
            "CREATE TRIGGER access_logs_chain_head AFTER INSERT ON access_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION flush_server_chain()"),
    "statement": ("CREATE TRIGGER access_logs_chain AFTER INSERT ON access_logs "
                  "REFERENCING NEW TABLE AS new_rows "
                  "FOR EACH STATEMENT EXECUTE FUNCTION chain_server_statement()",),
}


def configure(su: psycopg.Connection, deal: str | None, log: str | None,
              chain: str | None) -> None:
    # The audit tables are stamped on INSERT only since 0011 (nothing updates them but
    # the chain's own UPDATE).
    for table, function, when in (("deals", deal, "INSERT OR UPDATE"),
                                  ("access_logs", log, "INSERT")):
        su.execute(f"DROP TRIGGER IF EXISTS {table}_stamp ON {table}")
        if function is not None:
            su.execute(f"CREATE TRIGGER {table}_stamp BEFORE {when} ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {function}")
    for trigger in ("access_logs_chain", "access_logs_chain_head"):
        su.execute(f"DROP TRIGGER IF EXISTS {trigger} ON access_logs")
    for statement in CHAIN.get(chain or "", ()):
        su.execute(statement)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    n = args.rows
    rates: dict[str, dict[str, list[float]]] = {
        name: {"deal INSERT": [], "deal UPDATE": [], "access-log INSERT": []}
        for name in VARIANTS}
    with bench_database("stamps") as dsn_app:
        with psycopg.connect(dsn_app, autocommit=True) as conn:
            lane = make_lane(conn, 0)
        with psycopg.connect(SUPERUSER[dsn_app], autocommit=True) as su, \
                psycopg.connect(dsn_app) as app:
            for r in range(args.rounds):
                for v, (name, variant) in enumerate(VARIANTS.items()):
                    configure(su, *variant)
                    tag = f"r{r}v{v}-"
                    app.execute("SELECT set_tenant_context(%s)", (lane.tenant_id,))
                    t0 = time.perf_counter()
                    app.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                                "created_by_id) SELECT current_tenant_id(), %s || g, 'Deal', "
                                "'DRAFT', g, %s FROM generate_series(1, %s) g",
                                (tag, lane.user_id, n))
                    t1 = time.perf_counter()
                    app.execute("UPDATE deals SET status = 'ACTIVE', value = value + 1, "
                                "updated_at = now() WHERE tenant_id = current_tenant_id() "
                                "AND id LIKE %s", (tag + "%",))
                    t2 = time.perf_counter()
                    app.execute("INSERT INTO access_logs (tenant_id, id, user_id, deal_id, "
                                "action, access_type, resource_type, success) SELECT "
                                "current_tenant_id(), %s || g, %s, %s || g, 'DEAL_CREATE', "
                                "'WRITE', 'deal', true FROM generate_series(1, %s) g",
                                (tag, lane.user_id, tag, n))
                    t3 = time.perf_counter()
                    app.commit()
                    got = rates[name]
                    got["deal INSERT"].append(n / (t1 - t0))
                    got["deal UPDATE"].append(n / (t2 - t1))
                    got["access-log INSERT"].append(n / (t3 - t2))
            configure(su, *VARIANTS[CURRENT])
    print("| triggers | " + " | ".join(f"{k} rows/s" for k in rates[CURRENT]) + " |")
    print("|---|---|---|---|")
    for name, got in rates.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(v):,.0f}" for v in got.values())
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
