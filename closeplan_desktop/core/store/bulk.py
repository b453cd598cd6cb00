"""Loading many deals at once: the deals' secondary indexes and triggers (full-text
search, per-status counters) set aside while the rows go in, then built once after.

SYNC.md measured it for a million deals into SQLCipher: 42.7 s with indexes and FTS
built after, 85 s with them in place. What is set aside is kept in `workspace_meta`
(its own SQL, from sqlite_master) in the transaction that drops it, and `restore`
builds it again, rebuilds the search index and counts the counters afresh in one
transaction, so a crash in between leaves a workspace that `restore` finishes (the
rows are all there; only their indexes wait).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from ..domain.probability import effective_sql

SUSPENDED = "bulk_suspended_ddl"  # workspace_meta key: the SQL set aside, as JSON
# Secondary indexes and triggers of `deals` (not its primary key, nor FTS's own tables).
_DDL = ("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'deals' AND "
        "type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name")


def _raw(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def suspended(conn: Connection) -> bool:
    """Whether indexes and triggers are set aside now (a load under way or cut off)."""
    raw = _raw(conn)
    return raw.execute("SELECT 1 FROM workspace_meta WHERE key = ?",
                       (SUSPENDED,)).fetchone() is not None


def suspend(conn: Connection) -> None:
    """Set the deals' secondary indexes and triggers aside, in the caller's transaction."""
    if suspended(conn):
        return
    raw = _raw(conn)
    found = raw.execute(_DDL).fetchall()
    raw.execute("INSERT INTO workspace_meta (key, value) VALUES (?, ?)",
                (SUSPENDED, json.dumps([list(r) for r in found])))
    for kind, name, _ in found:
        raw.execute(f'DROP {kind.upper()} "{name}"')


def restore(conn: Connection) -> None:
    """Build what `suspend` set aside, rebuild the search index and count the per-status
    counters afresh, in the caller's transaction."""
    if not suspended(conn):
        return
    raw = _raw(conn)
    saved = raw.execute("SELECT value FROM workspace_meta WHERE key = ?",
                        (SUSPENDED,)).fetchone()[0]
    for _, _, sql in json.loads(saved):
        raw.execute(sql)
    raw.execute("INSERT INTO deals_fts(deals_fts) VALUES ('rebuild')")
    recount_stats(conn)
    raw.execute("DELETE FROM workspace_meta WHERE key = ?", (SUSPENDED,))


def recount_stats(conn: Connection) -> None:
    """Count `deal_stats` afresh from the deals, exactly (a total past 64 bits is stored
    as a REAL, as the triggers would, and core then sums that status from the deals).
    `weighted` is value (cents) x effective probability (percent), 0009_owner."""
    raw = _raw(conn)
    weight = effective_sql("status", "probability")
    group = ("SELECT tenant_id, status, deleted_at IS NOT NULL, count(*), {}, {} FROM deals "
             "GROUP BY 1, 2, 3")
    try:
        rows = raw.execute(group.format("sum(value)", f"sum(value * {weight})")).fetchall()
    except Exception as exc:  # SQLite's sum() stops at 64 bits: sum those in Python
        if "overflow" not in str(exc).lower():
            raise
        exact: dict[tuple[Any, ...], list[int]] = {}
        for tenant, status, deleted, value, pct in raw.execute(
                f"SELECT tenant_id, status, deleted_at IS NOT NULL, value, {weight} "  # noqa: S608
                "FROM deals"):
            acc = exact.setdefault((tenant, status, deleted), [0, 0, 0])
            acc[0] += 1
            acc[1] += value
            acc[2] += value * pct
        rows = [(*k, c, _stored(t), _stored(w)) for k, (c, t, w) in exact.items()]
    raw.execute("DELETE FROM deal_stats")
    raw.executemany("INSERT INTO deal_stats (tenant_id, status, deleted, count, total, "
                    "weighted) VALUES (?, ?, ?, ?, ?, ?)", rows)


def _stored(total: int) -> int | float:
    """A sum as the triggers store it: past 64 bits, a REAL (core then sums exactly)."""
    return total if total < 2**63 else float(total)
