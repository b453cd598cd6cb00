"""Pull: a device's changes since its cursor, in commit order, paged; and the checkpoint
summary (per-table counts and an order-independent hash) a client compares its copy with.

Why this never skips a row: every write transaction takes the tenant's next
`sync_version` under the tenants row lock and stamps its rows with it (migration 0004),
so versions commit in order. A pull reads, in one REPEATABLE READ snapshot, the tenant's
committed `sync_version` (the checkpoint) and then the rows with a version above the
cursor and at most the checkpoint: everything up to the checkpoint is committed and
visible in that snapshot, nothing above it is. The next page starts where this one
ended, in (row_version, table, id) order, so paging across rows of one version resumes
exactly; a row changed meanwhile gets a newer version and comes again later.

Rows are built as JSON text by PostgreSQL (`pull_shapes`) and joined as text here.
Every SQL text is made of our own constants (hence the S608 waivers); values are
parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..caller import Caller
from ..db.pool import Connection, Database
from ..errors import bad_request, forbidden
from . import pull_cursor
from .pull_cursor import PullPosition
from .pull_shapes import BY_NAME, BY_RANK, SHAPES, Shape, scope_params

DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
HASH_MOD = 2**64


@contextmanager
def snapshot(db: Database, caller: Caller) -> Iterator[Connection]:
    """A pooled connection in a read-only REPEATABLE READ transaction (one snapshot for
    every statement) in the caller's tenant and user context, times in UTC. It is
    rolled back at the end: it wrote nothing."""
    with db.pool.connection() as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            conn.execute("SELECT set_tenant_context(%s), set_user_context(%s), "
                         "set_config('TimeZone', 'UTC', true)",
                         (caller.tenant_id, caller.user_id))
            yield conn
        finally:
            conn.rollback()


def require_device(caller: Caller) -> None:
    """Sync is per device: refuse a session that is not bound to one."""
    if not caller.device_id:
        raise forbidden("device_required", "Sync needs a session of an enrolled device: "
                        "sign in from the ClosePlan app on an approved device.")


def _require_snapshot(conn: Connection) -> None:
    row = conn.execute("SELECT current_setting('transaction_isolation'), "
                       "current_setting('transaction_read_only')").fetchone()
    if row != ("repeatable read", "on"):
        raise RuntimeError("pull must run inside sync.pull.snapshot(): one read-only "
                           "REPEATABLE READ transaction")


def checkpoint_of(conn: Connection, caller: Caller) -> int:
    """The tenant's committed sync_version in this snapshot."""
    row = conn.execute("SELECT sync_version FROM tenants WHERE id = %s",
                       (caller.tenant_id,)).fetchone()
    if row is None:  # the session's tenant is always there; RLS would hide another
        raise forbidden("no_tenant", "Your organisation is not on this server.")
    return int(row[0])


def check_limit(limit: object) -> int:
    """A page size (1..MAX_LIMIT), else a 400 that says so."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise bad_request("bad_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return limit


@dataclass
class PullPage:
    """One page: `changes` are JSON texts `{"table", "row"}` in commit order."""

    checkpoint: int
    changes: list[str]
    cursor: str
    up_to_date: bool
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The response body (the rows' JSON as PostgreSQL built it, not re-encoded)."""
        counts = ",".join(f'"{t}":{n}' for t, n in self.counts.items())
        head = (f'{{"checkpoint":{self.checkpoint},"up_to_date":'
                f'{"true" if self.up_to_date else "false"},"cursor":"{self.cursor}",'
                f'"counts":{{{counts}}},"changes":[')
        return (head + ",".join(self.changes) + "]}").encode()


def _after(shape: Shape, pos: PullPosition) -> str:
    """The condition 'after the cursor' for this table's rows, as an index range."""
    if pos.table is None or shape.rank < BY_NAME[pos.table].rank:
        return "row_version > %(after_version)s"
    if shape.rank == BY_NAME[pos.table].rank:
        return f"(row_version, {shape.key}) > (%(after_version)s, %(after_key)s)"
    return "row_version >= %(after_version)s"


def pull_sql(caller: Caller, pos: PullPosition, limit: int) -> str:
    """One page's query: per table the first `limit + 1` rows after the cursor by its
    (row_version, id) index, merged in (row_version, table rank, id) order."""
    parts = []
    for shape in SHAPES:
        scope = shape.scope_sql(caller)
        if scope is None:
            continue
        parts.append(
            f"(SELECT row_version, {shape.rank} AS rank, {shape.key} AS key, "  # noqa: S608
            f"{shape.line_sql()} AS line FROM {shape.table} WHERE {scope} "
            f"AND {_after(shape, pos)} AND row_version <= %(checkpoint)s "
            f"ORDER BY row_version, {shape.key} LIMIT {limit + 1})")
    return " UNION ALL ".join(parts) + f" ORDER BY 1, 2, 3 LIMIT {limit + 1}"


def pull(conn: Connection, caller: Caller, cursor: str | None = None,
         limit: int = DEFAULT_LIMIT) -> PullPage:
    """The caller's device's next page of changes after `cursor` (None: from the start),
    up to this snapshot's checkpoint. Run it inside `snapshot(db, caller)`."""
    require_device(caller)
    limit = check_limit(limit)
    pos = PullPosition(0) if cursor is None else pull_cursor.decode_pull(cursor, caller)
    _require_snapshot(conn)
    checkpoint = checkpoint_of(conn, caller)
    if pos.version > checkpoint:
        raise bad_request("bad_cursor", "The cursor is ahead of this server's data (was the "
                          "server restored from a backup?): bootstrap again, without a cursor.")
    params: dict[str, Any] = {**scope_params(caller), "after_version": pos.version,
                              "after_key": pos.key or "", "checkpoint": checkpoint}
    rows = conn.execute(pull_sql(caller, pos, limit), params).fetchall()
    up_to_date = len(rows) <= limit
    rows = rows[:limit]
    counts: dict[str, int] = {}
    for row in rows:
        counts[BY_RANK[row[1]]] = counts.get(BY_RANK[row[1]], 0) + 1
    end = (PullPosition(checkpoint) if up_to_date
           else PullPosition(int(rows[-1][0]), BY_RANK[rows[-1][1]], str(rows[-1][2])))
    return PullPage(checkpoint, [r[3] for r in rows], pull_cursor.encode_pull(caller, end),
                    up_to_date, counts)


def row_hash(table: str, key: str, row_version: int) -> int:
    """One row's share of the checkpoint hash: the first 8 bytes of MD5 of
    'table:id:row_version' as a signed 64-bit integer (a client computes the same over
    the rows it holds; phi_keys' id is its version number)."""
    digest = hashlib.md5(f"{table}:{key}:{row_version}".encode(), usedforsecurity=False)
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


def combine(hashes: Iterator[int] | list[int]) -> str:
    """The order-independent hash of a set of rows: their `row_hash`es summed modulo
    2**64, as 16 hex digits."""
    return f"{sum(hashes) % HASH_MOD:016x}"


@dataclass
class Checkpoint:
    """What the caller's device should hold at `checkpoint`: per table, the row count
    and the hash of (table, id, row_version) of its rows (tombstones included)."""

    checkpoint: int
    counts: dict[str, int]
    hashes: dict[str, str]
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "counts": self.counts,
                "hashes": self.hashes, "hash": self.hash}


def checkpoint(conn: Connection, caller: Caller) -> Checkpoint:
    """The summary of every row the caller's device gets, at this snapshot's checkpoint
    (run it inside `snapshot`)."""
    require_device(caller)
    _require_snapshot(conn)
    at = checkpoint_of(conn, caller)
    params: dict[str, Any] = {**scope_params(caller), "checkpoint": at}
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    for shape in SHAPES:
        scope = shape.scope_sql(caller)
        if scope is None:
            continue
        share = (f"('x' || left(md5('{shape.table}:' || {shape.key} || ':' || "
                 f"row_version::text), 16))::bit(64)::bigint")
        row = conn.execute(f"SELECT count(*), coalesce(sum({share}), 0) FROM {shape.table} "  # noqa: S608
                           f"WHERE {scope} AND row_version <= %(checkpoint)s", params).fetchone()
        assert row is not None
        counts[shape.table] = int(row[0])
        sums[shape.table] = int(row[1]) % HASH_MOD
    hashes = {t: f"{s:016x}" for t, s in sums.items()}
    return Checkpoint(at, counts, hashes, combine(list(sums.values())))
