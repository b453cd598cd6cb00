"""The desktop's side of a bootstrap's deal history (issue 11, fourth pass): history
lines applied in pages of `core.sync.bootstrap.PAGE`, each page one local transaction,
with `core.sync.apply`'s batched INSERT (one executemany per run of history rows) beside
the row-by-row INSERT it replaced, interleaved, in a real SQLCipher workspace.

    dbus-run-session -- packaging/with-keyring.sh .venv/bin/python \\
        tests/benchmarks/bench_history_apply.py [--rows 200000] [--rounds 3]

Prints history rows/s (median and best of the rounds) of each. No figure is asserted
anywhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.store import db, workspace
from closeplan_desktop.core.sync import apply
from closeplan_desktop.core.sync.bootstrap import PAGE
from closeplan_desktop.core.usecases import users

PASSWORD = "bench history password 2026"


def lines(n: int) -> list[dict[str, Any]]:
    """`n` history lines as the server sends them (a create of a deal each)."""
    changes = [{"field": "title", "new": "Infusion pumps"}, {"field": "status", "new": "DRAFT"},
               {"field": "value", "new": "1200.00"}]
    return [{"table": "deal_history", "row": {
        "id": new_id(), "deal_id": new_id(), "op": "create", "changes": changes,
        "user_id": None, "created_at": "2026-12-01T03:00:00.000000+00:00",
        "row_version": i + 1}} for i in range(n)]


def row_by_row(conn: Any, tenant_id: str, page: list[dict[str, Any]]) -> None:
    """The INSERT per history row that apply_changes made before the fourth pass."""
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    for change in page:
        row = change["row"]
        cur.execute(apply._HISTORY, (
            row["id"], tenant_id, row["deal_id"], row["op"], apply._json(row["changes"]),
            row.get("user_id"), apply.time_text(row["created_at"]), row["row_version"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    rates: dict[str, list[float]] = {"batched (now)": [], "row by row (before)": []}
    with tempfile.TemporaryDirectory(prefix="closeplan-bench-history-") as tmp:
        with workspace.create(Path(tmp) / "ws") as ws:
            tenant_id, _ = users.create_tenant(ws, "Bench History", "bench-history.example",
                                               "admin@bench-history.example", "Dana",
                                               "Whitfield", PASSWORD)
            for r in range(args.rounds):
                for name in list(rates)[::1 if r % 2 else -1]:
                    data = lines(args.rows)  # new ids: nothing is skipped as already there
                    t0 = time.perf_counter()
                    for start in range(0, len(data), PAGE):
                        page = data[start:start + PAGE]
                        with db.write_session(ws.engine) as s:
                            if name.startswith("batched"):
                                apply.apply_changes(s.connection(), tenant_id, page,
                                                    lambda _v, _w: None, "", "")
                            else:
                                row_by_row(s.connection(), tenant_id, page)
                    rates[name].append(args.rows / (time.perf_counter() - t0))
    print(f"| deal history applied ({args.rows:,} rows, pages of {PAGE:,}) | rows/s median "
          "| best |\n|---|---|---|")
    for name, got in rates.items():
        print(f"| {name} | {statistics.median(got):,.0f} | {max(got):,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
