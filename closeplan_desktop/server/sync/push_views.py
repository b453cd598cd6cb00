"""Pushed saved views (issue 15): create, update, delete, per user.

A view belongs to the user who saved it: a device pushes only its user's views (a create
names its owner, which must be the pusher), and another user's view answers as missing,
as on the desktop. Values pass the desktop's rules again (the name's, the filter is a
JSON object within the size the table takes). Last writer wins per view: an update
writes the fields it carries in arrival order. A delete is a tombstone and beats an
edit: an edit arriving after it is written to the tombstone (so the row comes down
again by pull, still deleted) and answered as a conflict.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from ...core.domain import validation
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from .mutations import Mutation
from .outcome import APPLIED, CONFLICT, Context, Rejected, Verdict

MAX_NAME = 60  # core.usecases.views.MAX_NAME
MAX_QUERY = 1000  # core.usecases.views.MAX_QUERY_BYTES
_VIEW = ("SELECT user_id, deleted_at IS NOT NULL FROM saved_views "
         "WHERE tenant_id = %s AND id = %s FOR UPDATE")
MISSING = "No such view of yours."


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        if "name" in fields:
            out["name"] = validation.text(fields["name"], "View name", max_len=MAX_NAME)
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None
    if "query" in fields:
        text = fields["query"]
        try:
            parsed = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or len(text.encode()) > MAX_QUERY:
            raise Rejected("invalid", f"A view's filter must be a JSON object of at most "
                                      f"{MAX_QUERY} bytes.")
        out["query"] = text
    if "is_default" in fields:
        if fields["is_default"] not in (0, 1):
            raise Rejected("invalid", "is_default must be 0 or 1.")
        out["is_default"] = bool(fields["is_default"])
    return out


def create(ctx: Context, m: Mutation) -> Verdict:
    """A new view of the pusher's own."""
    if not is_id(m.id):
        raise Rejected("invalid_id", "A new view's id must be an id made by the app.")
    if m.fields["user_id"] != ctx.user_id:
        raise Rejected("forbidden", "A view belongs to the user who saved it: this device "
                                    "may push only its signed-in user's views.")
    clean = _clean(m.fields)
    ctx.conn.execute(
        "INSERT INTO saved_views (tenant_id, id, user_id, name, query, is_default) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (ctx.tenant_id, m.id, ctx.user_id, clean["name"], clean["query"],
         clean.get("is_default", False)))
    return Verdict(m.mid, APPLIED, row_version=ctx.version)


def _load(ctx: Context, m: Mutation) -> bool:
    """Whether the pusher's view `m.id` is deleted; another's answers as missing."""
    found = ctx.conn.execute(_VIEW, (ctx.tenant_id, m.id)).fetchone() if is_id(m.id) else None
    if found is None or found[0] != ctx.user_id:
        raise Rejected("not_found", MISSING)
    return bool(found[1])


def update(ctx: Context, m: Mutation) -> Verdict:
    """The fields it carries, written as they arrive (last writer wins)."""
    deleted = _load(ctx, m)
    clean = _clean(m.fields)
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in clean)
    ctx.conn.execute(
        sql.SQL("UPDATE saved_views SET {}, updated_at = now() WHERE tenant_id = %s "
                "AND id = %s").format(sets), [*clean.values(), ctx.tenant_id, m.id])
    if deleted:
        return Verdict(m.mid, CONFLICT, "view_deleted",
                       "The view was deleted while you changed it; it stays deleted.",
                       ctx.version)
    return Verdict(m.mid, APPLIED, row_version=ctx.version)


def delete(ctx: Context, m: Mutation) -> Verdict:
    """A tombstone, by its owner."""
    if not _load(ctx, m):
        ctx.conn.execute("UPDATE saved_views SET deleted_at = now(), updated_at = now() "
                         "WHERE tenant_id = %s AND id = %s", (ctx.tenant_id, m.id))
    return Verdict(m.mid, APPLIED, row_version=ctx.version)
