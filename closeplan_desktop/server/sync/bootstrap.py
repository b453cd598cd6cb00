"""Bootstrap: a device's first copy of its tenant, streamed as NDJSON from current state
(never history), first screen first, resumable.

The stream, in one read-only REPEATABLE READ snapshot whose tenant version is the
checkpoint C:
1. the first screen: the tenant, its users, PHI key versions, this device's key grants,
   the first page of deals in the desktop's default list order (live deals by
   updated_at, then id, newest first: `core/usecases/deal_list.py`, a page of
   `FIRST_PAGE` as `ui/deals/model.py` asks), then the small tables the device gets
   (devices, conflicts, rejections); then `{"first_screen": true, "cursor": ...}`;
2. every other deal (tombstones too) by id, streamed by `COPY (SELECT ...) TO STDOUT`,
   with `{"cursor": ...}` after every `FETCH` deals;
3. the deals' activities and history (issue 15), then
   `{"done": true, "checkpoint": C, "cursor": <a pull cursor at C>, "counts": {...}}`.

A change line is `{"table": ..., "row": {...}}` as pull sends it (`pull_shapes`).
PostgreSQL builds each line; the big parts (the deals, their activities and history)
come by COPY in text format, whose only change to a line is a doubled backslash (a line
holds no tab, newline or other control character: JSON escapes them), undone on each
block of lines; measured faster than a server-side cursor's fetches (docs/server.md,
Speed, fourth pass).

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


# Every deal line starts so (the id first, sent unescaped: pull_shapes.safe_id).
DEAL_PREFIX = f'{{"table":"{DEALS.table}","row":{{"id":"'.encode()


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# COPY's text format writes a backslash doubled and these characters as escapes; a line
# holds them only where JSON allows them raw (whitespace in an envelope as pushed).
_COPY_ESCAPES = ((b"\\t", b"\t"), (b"\\n", b"\n"), (b"\\r", b"\r"), (b"\\b", b"\b"),
                 (b"\\f", b"\f"), (b"\\v", b"\v"))


def _lines_of(rows: list[Any]) -> bytes:
    """COPY text rows (each a line and its newline) as NDJSON, byte for byte the lines
    PostgreSQL built. NUL, which no text value holds, stands in for a backslash."""
    block = b"".join(rows)
    if b"\\" not in block:
        return block
    block = block.replace(b"\\\\", b"\0")
    if b"\\" in block:
        for escaped, char in _COPY_ESCAPES:
            block = block.replace(escaped, char)
    return block.replace(b"\0", b"\\")


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
        self._running: Generator[bytes, None, None] | None = None

    # -- iteration --------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        self._running = self._lines()
        try:
            yield from self._chunks(self._running)
        finally:
            self.close()

    def close(self) -> None:
        """End the snapshot and give the connection back to the pool (a COPY under way
        is cancelled first, so the connection goes back idle)."""
        if not self._closed:
            self._closed = True
            try:
                if self._running is not None:
                    self._running.close()
            finally:
                self._stack.close()

    @staticmethod
    def _chunks(lines: Iterator[bytes]) -> Iterator[bytes]:
        buf: list[bytes] = []
        size = 0
        for text in lines:
            buf.append(text)
            size += len(text)
            if size >= CHUNK_BYTES:
                yield b"".join(buf)
                buf, size = [], 0
        if buf:
            yield b"".join(buf)

    def _lines(self) -> Iterator[bytes]:
        """The stream's text, each piece one or more whole lines ending in a newline."""
        if self._resume is None:
            first_page_end = yield from self._first_screen()
            after = None
        else:
            first_page_end, after = self._resume.first_page_end, self._resume.after
        yield from self._rest(first_page_end, after)
        for table in AFTER_DEALS:
            yield from self._table_copy(table)
        end = pull_cursor.encode_pull(self.caller, PullPosition(self.checkpoint))
        yield _line({"done": True, "checkpoint": self.checkpoint, "cursor": end,
                     "counts": self.counts})

    def _params(self) -> dict[str, Any]:
        return {**scope_params(self.caller), "checkpoint": self.checkpoint}

    def _table_sql(self, table: str) -> str | None:
        shape = BY_NAME[table]
        scope = shape.scope_sql(self.caller)
        if scope is None:
            return None
        return (f"SELECT {shape.line_sql()} FROM {table} WHERE {scope} "  # noqa: S608
                f"AND row_version <= %(checkpoint)s ORDER BY {shape.key}")

    def _table(self, table: str) -> Iterator[bytes]:
        sql = self._table_sql(table)
        if sql is None:
            return
        rows = self._conn.execute(sql, self._params()).fetchall()
        if rows:
            self.counts[table] = self.counts.get(table, 0) + len(rows)
            yield ("\n".join(r[0] for r in rows) + "\n").encode()

    def _copy(self, sql: str, params: dict[str, Any]) -> Iterator[list[Any]]:
        """The rows of `COPY (sql) TO STDOUT`, in blocks of up to FETCH."""
        with self._conn.cursor() as cur, \
                cur.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            rows: list[Any] = []
            for row in copy:
                rows.append(row)
                if len(rows) == FETCH:
                    yield rows
                    rows = []
            if rows:
                yield rows

    def _table_copy(self, table: str) -> Iterator[bytes]:
        """A table that may be big (one row per deal or more), streamed."""
        sql = self._table_sql(table)
        if sql is None:
            return
        for rows in self._copy(sql, self._params()):
            self.counts[table] = self.counts.get(table, 0) + len(rows)
            yield _lines_of(rows)

    def _first_screen(self) -> Generator[bytes, None, tuple[datetime, str] | None]:
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
            yield ("\n".join(r[0] for r in rows) + "\n").encode()
            if len(rows) == FIRST_PAGE:
                end = (rows[-1][1], rows[-1][2])
        for table in LATER_TABLES:
            yield from self._table(table)
        cursor = pull_cursor.encode_bootstrap(
            self.caller, BootstrapPosition(self.checkpoint, end, None))
        yield _line({"first_screen": True, "cursor": cursor})
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

    def _rest(self, end: tuple[datetime, str] | None, after: str | None) -> Iterator[bytes]:
        """Step 2: the deals not on the first page, by id, a cursor line after every
        FETCH. The first page's ids are left out by a hashed `<> ALL` (cheaper per row
        than testing the boundary); a resumed stream also leaves out what changed after
        the checkpoint (a fresh one's snapshot holds nothing newer)."""
        params = self._params()
        params["first"] = self._first_page_ids(end)
        where = [str(DEALS.scope_sql(self.caller)), "id <> ALL(%(first)s::text[])"]
        if self._resume is not None:
            where.append("row_version <= %(checkpoint)s")
        if after is not None:
            where.append("id > %(after)s")
            params["after"] = after
        sql = (f"SELECT {DEALS.line_sql()} FROM deals "  # noqa: S608
               f"WHERE {' AND '.join(where)} ORDER BY tenant_id, id")
        for rows in self._copy(sql, params):
            self.counts["deals"] = self.counts.get("deals", 0) + len(rows)
            last = bytes(rows[-1])
            start = len(DEAL_PREFIX)
            cursor = pull_cursor.encode_bootstrap(self.caller, BootstrapPosition(
                self.checkpoint, end, last[start:last.index(b'"', start)].decode()))
            yield _lines_of(rows) + _line({"cursor": cursor})


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
