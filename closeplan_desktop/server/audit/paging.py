"""Keyset paging for the admin views: an opaque cursor, a bounded page size.

A page is ordered by (a sort column, id); the cursor is the last row's pair, so the next
page starts strictly after it however many rows arrive meanwhile (no OFFSET, which
repeats or skips rows and grows slower with depth). The cursor is base64url JSON:
opaque to clients, checked here (a damaged one is a 400, never a 500).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from ...core.domain.clock import as_utc, iso
from ...core.domain.ids import is_id
from ..db.pool import Connection
from ..errors import bad_request

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def page_size(limit: int | None) -> int:
    """The page size asked for, within 1..MAX_LIMIT (DEFAULT_LIMIT when not given)."""
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise bad_request("invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return limit


def encode_cursor(key: datetime, row_id: str) -> str:
    """The cursor that starts the page after the row (key, row_id)."""
    raw = json.dumps([iso(key), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (sort key, id) a cursor names; None for the first page."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        when = as_utc(datetime.fromisoformat(key.replace("Z", "+00:00")))
        if not is_id(row_id):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, AttributeError):
        raise bad_request("invalid_cursor", "The page cursor is damaged; start again from "
                          "the first page (leave cursor out).") from None
    return when, row_id


Row = tuple[Any, ...]


def fetch_page(conn: Connection, *, table: str, columns: Sequence[str], sort: str,
               where: Sequence[sql.Composable], params: Sequence[Any], cursor: str | None,
               limit: int | None, to_dict: Callable[[Row], dict[str, Any]],
               descending: bool = False) -> dict[str, Any]:
    """One page of `table` (the caller's `where` terms, which must include the tenant),
    ordered by (`sort`, id), or newest first when `descending` (the cursor then goes
    backwards); `sort` is a timestamptz column and is also in `columns`.
    Returns {"items": [...], "next_cursor": str | None}."""
    size = page_size(limit)
    after = decode_cursor(cursor)
    terms = list(where)
    args = list(params)
    if after is not None:
        terms.append(sql.SQL("({}, id) {} (%s, %s)").format(
            sql.Identifier(sort), sql.SQL("<" if descending else ">")))
        args += list(after)
    direction = sql.SQL(" DESC" if descending else "")
    query = sql.SQL("SELECT {cols} FROM {table} WHERE {where} ORDER BY {sort}{dir}, id{dir} "
                    "LIMIT %s").format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table), where=sql.SQL(" AND ").join(terms),
        sort=sql.Identifier(sort), dir=direction)
    rows = conn.execute(query, [*args, size + 1]).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    items = [to_dict(r) for r in rows]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(last[columns.index(sort)], last[columns.index("id")])
    return {"items": items, "next_cursor": next_cursor}


def plain(columns: Sequence[str]) -> Callable[[Row], dict[str, Any]]:
    """A row to a dict: times in iso form, bytes in base64, the rest as they are."""
    def to_dict(row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, datetime):
                value = iso(value)
            elif isinstance(value, bytes | memoryview):
                value = base64.b64encode(bytes(value)).decode("ascii")
            out[name] = value
        return out
    return to_dict
