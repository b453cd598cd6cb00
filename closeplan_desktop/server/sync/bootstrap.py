"""Bootstrap: a device's first copy of its tenant, streamed as NDJSON from current state
(never history), first screen first, resumable.

The stream, in one read-only REPEATABLE READ snapshot whose tenant version is the
checkpoint C:
1. the first screen: the tenant, its users, PHI key versions, this device's key grants,
   the first page of deals in the desktop's default list order (live deals by
   updated_at, then id, newest first: `core/usecases/deal_list.py`, a page of
   `FIRST_PAGE` as `ui/deals/model.py` asks), then the small tables the device gets
   (devices, conflicts, rejections); then `{"first_screen": true, "cursor": ...}`;
2. every other deal (tombstones too) by id, from a server-side cursor in big fetches,
   with `{"cursor": ...}` after each fetch;
3. the deals' activities and history (issue 15), then
   `{"done": true, "checkpoint": C, "cursor": <a pull cursor at C>, "counts": {...}}`.

A change line is `{"table": ..., "row": {...}}` as pull sends it (`pull_shapes`).

Resuming (a bootstrap cursor) continues step 2 after the last id sent, in a new
snapshot, with only the deals whose version is at most the original C and that were not
on the first page as of C: for such a row the current state is its state at C, so the
first page's boundary ((updated_at, id) of its last deal, kept in the cursor) still
tells them apart. A deal changed after C is left out; the pull from C that follows
brings it, at its newer version. So a resumed stream never skips a row, and an
unbroken one sends every row once.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from ..caller import Caller
from ..db.pool import Connection, Database
from ..errors import bad_request
from . import pull, pull_cursor
from .pull_cursor import BootstrapPosition, PullPosition
from .pull_shapes import BY_NAME, scope_params

# Every SQL text here is made of this module's and pull_shapes' own constants; values go
# as parameters (hence the S608 waivers).
FIRST_PAGE = 200
FETCH = 20_000
CHUNK_BYTES = 256 * 1024
FIRST_TABLES = ("tenants", "users", "phi_keys", "key_grants")
LATER_TABLES = ("devices", "conflicts", "rejections")
# After every deal (they point to deals): activities and history (issue 15). A resumed
# stream sends them whole again; the desktop writes them idempotently.
AFTER_DEALS = ("deal_activities", "deal_history")
DEALS = BY_NAME["deals"]


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Bootstrap:
    """One bootstrap stream: made by `open_bootstrap` (which checks everything before a
    byte is sent), iterated for its NDJSON chunks (bytes), closed when done or when the
    client went away (`close` is safe to call more than once)."""

    def __init__(self, caller: Caller, conn: Connection, stack: ExitStack,
                 resume: BootstrapPosition | None, checkpoint: int) -> None:
        self.caller = caller
        self._conn = conn
        self._stack = stack
        self._resume = resume
        self.checkpoint = checkpoint if resume is None else resume.checkpoint
        self.counts: dict[str, int] = {}
        self._closed = False

    # -- iteration --------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks(self._lines())
        finally:
            self.close()

    def close(self) -> None:
        """End the snapshot and give the connection back to the pool."""
        if not self._closed:
            self._closed = True
            self._stack.close()

    @staticmethod
    def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
        buf: list[str] = []
        size = 0
        for text in lines:
            buf.append(text)
            size += len(text)
            if size >= CHUNK_BYTES:
                yield "".join(buf).encode()
                buf, size = [], 0
        if buf:
            yield "".join(buf).encode()

    def _lines(self) -> Iterator[str]:
        """The stream's text, each piece one or more whole lines ending in a newline."""
        if self._resume is None:
            first_page_end = yield from self._first_screen()
            after = None
        else:
            first_page_end, after = self._resume.first_page_end, self._resume.after
        yield from self._rest(first_page_end, after)
        for table in AFTER_DEALS:
            yield from self._table(table)
        end = pull_cursor.encode_pull(self.caller, PullPosition(self.checkpoint))
        yield _line({"done": True, "checkpoint": self.checkpoint, "cursor": end,
                     "counts": self.counts}) + "\n"

    def _params(self) -> dict[str, Any]:
        return {**scope_params(self.caller), "checkpoint": self.checkpoint}

    def _table(self, table: str) -> Iterator[str]:
        shape = BY_NAME[table]
        scope = shape.scope_sql(self.caller)
        if scope is None:
            return
        rows = self._conn.execute(
            f"SELECT {shape.line_sql()} FROM {table} WHERE {scope} "  # noqa: S608
            f"AND row_version <= %(checkpoint)s ORDER BY {shape.key}", self._params()).fetchall()
        if rows:
            self.counts[table] = self.counts.get(table, 0) + len(rows)
            yield "\n".join(r[0] for r in rows) + "\n"

    def _first_screen(self) -> Generator[str, None, tuple[datetime, str] | None]:
        """Step 1; returns the first page's boundary for the cursor."""
        for table in FIRST_TABLES:
            yield from self._table(table)
        rows = self._conn.execute(
            f"SELECT {DEALS.line_sql()}, updated_at, id FROM deals "  # noqa: S608
            f"WHERE {DEALS.scope_sql(self.caller)} AND deleted_at IS NULL "
            f"ORDER BY updated_at DESC, id DESC LIMIT {FIRST_PAGE}", self._params()).fetchall()
        end: tuple[datetime, str] | None = None
        if rows:
            self.counts["deals"] = len(rows)
            yield "\n".join(r[0] for r in rows) + "\n"
            if len(rows) == FIRST_PAGE:
                end = (rows[-1][1], rows[-1][2])
        for table in LATER_TABLES:
            yield from self._table(table)
        cursor = pull_cursor.encode_bootstrap(
            self.caller, BootstrapPosition(self.checkpoint, end, None))
        yield _line({"first_screen": True, "cursor": cursor}) + "\n"
        return end

    def _first_page_ids(self, end: tuple[datetime, str] | None) -> list[str]:
        """The ids of the first page as of the checkpoint, found again from its boundary:
        live deals at or after it in the list's order (a deal changed since the
        checkpoint is left out of the rest anyway, by its version)."""
        where = f"{DEALS.scope_sql(self.caller)} AND deleted_at IS NULL"
        params = self._params()
        if end is not None:
            where += " AND (updated_at, id) >= (%(fp_at)s, %(fp_id)s)"
            params.update(fp_at=end[0], fp_id=end[1])
        rows = self._conn.execute(f"SELECT id FROM deals WHERE {where} "  # noqa: S608
                                  "AND row_version <= %(checkpoint)s", params).fetchall()
        return [r[0] for r in rows]

    def _rest(self, end: tuple[datetime, str] | None, after: str | None) -> Iterator[str]:
        """Step 2: the deals not on the first page, by id, in fetches of FETCH rows. The
        first page's ids are left out by a hashed `<> ALL` (cheaper per row than testing
        the boundary); a resumed stream also leaves out what changed after the
        checkpoint (a fresh one's snapshot holds nothing newer)."""
        params = self._params()
        params["first"] = self._first_page_ids(end)
        where = [str(DEALS.scope_sql(self.caller)), "id <> ALL(%(first)s::text[])"]
        if self._resume is not None:
            where.append("row_version <= %(checkpoint)s")
        if after is not None:
            where.append("id > %(after)s")
            params["after"] = after
        with self._conn.cursor(name="closeplan_bootstrap") as cur:
            cur.itersize = FETCH
            cur.execute(f"SELECT id, {DEALS.line_sql()} FROM deals WHERE "  # noqa: S608
                        f"{' AND '.join(where)} ORDER BY tenant_id, id", params)
            while True:
                rows = cur.fetchmany(FETCH)
                if not rows:
                    break
                self.counts["deals"] = self.counts.get("deals", 0) + len(rows)
                last = rows[-1][0]
                cursor = pull_cursor.encode_bootstrap(
                    self.caller, BootstrapPosition(self.checkpoint, end, last))
                yield "\n".join([r[1] for r in rows]) + "\n" + _line({"cursor": cursor}) + "\n"


def open_bootstrap(db: Database, caller: Caller, cursor: str | None = None) -> Bootstrap:
    """A bootstrap stream for the caller's device, from the start (`cursor` None) or
    resumed from a cursor of an earlier stream. Every check (the device, the cursor)
    happens here, before the first byte; the stream holds one pooled connection until
    it ends or is closed."""
    pull.require_device(caller)
    resume = None if cursor is None else pull_cursor.decode_bootstrap(cursor, caller)
    stack = ExitStack()
    try:
        conn = stack.enter_context(pull.snapshot(db, caller))
        now = pull.checkpoint_of(conn, caller)
        if resume is not None and resume.checkpoint > now:
            raise bad_request("bad_cursor", "The cursor is ahead of this server's data (was "
                              "the server restored from a backup?): bootstrap again, without "
                              "a cursor.")
    except BaseException:
        stack.close()
        raise
    return Bootstrap(caller, conn, stack, resume, now)
