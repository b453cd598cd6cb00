"""Pushed deal activities (issue 15): create, update, delete (SYNC.md: activities append;
fields last writer wins).

The desktop's rules again, server side: values pass `core.domain.validation`; whoever
may change the deal (its owner, or an admin) adds to it; an activity is edited or
deleted by its author or an admin, and a task is also completed by whoever may change
its deal. A create appends (its id is the device's); an update writes the fields it
carries, in arrival order, so the last writer wins per field. A delete is a tombstone
and beats an edit: an edit that arrives after it is written to the tombstone (so the
row comes down again by pull, still deleted) and answered as a conflict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

from ...core.domain import validation
from ...core.domain.clock import as_utc
from ...core.domain.enums import ActivityKind
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from .mutations import Mutation
from .outcome import APPLIED, CONFLICT, Context, Rejected, Verdict

_DEAL = ("SELECT owner_id, deleted_at IS NOT NULL FROM deals "
         "WHERE tenant_id = %s AND id = %s")
_ACTIVITY = ("SELECT a.kind, a.created_by_id, a.deleted_at IS NOT NULL, d.owner_id "
             "FROM deal_activities a JOIN deals d ON d.tenant_id = a.tenant_id "
             "AND d.id = a.deal_id WHERE a.tenant_id = %s AND a.id = %s FOR UPDATE OF a")
DUE_KINDS = (ActivityKind.TASK, ActivityKind.NEXT_STEP)


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise Rejected("invalid", f"{name} must be an ISO 8601 time.") from None


def _clean(fields: dict[str, Any], kind: ActivityKind) -> dict[str, Any]:
    """The pushed fields by the desktop's own rules (`kind`: the activity's kind after
    the change)."""
    out: dict[str, Any] = {}
    try:
        if "kind" in fields:
            out["kind"] = kind.value
        if "body" in fields:
            out["body"] = validation.activity_body(fields["body"])
        if "due_at" in fields:
            out["due_at"] = validation.due_date(fields["due_at"])
            if out["due_at"] is not None and kind not in DUE_KINDS:
                raise ValidationError("Only a task or a next step has a due date.")
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None
    if "done_at" in fields:
        out["done_at"] = _time(fields["done_at"], "done_at")
    return out


def _kind(value: Any) -> ActivityKind:
    try:
        return validation.activity_kind(value)
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None


def _may_change_deal(ctx: Context, owner: str) -> bool:
    return ctx.is_admin or owner == ctx.user_id


def create(ctx: Context, m: Mutation) -> Verdict:
    """A new activity of the pusher on a live deal they may change."""
    if not is_id(m.id):
        raise Rejected("invalid_id", "A new activity's id must be an id made by the app.")
    deal_id = m.fields["deal_id"]
    found = None
    if is_id(deal_id):
        found = ctx.conn.execute(_DEAL, (ctx.tenant_id, deal_id)).fetchone()
    if found is None:
        raise Rejected("not_found", "No such deal in your workspace.")
    if not _may_change_deal(ctx, found[0]):
        raise Rejected("forbidden", "Only the deal's owner or an administrator can add "
                                    "activities to it.")
    if found[1]:
        raise Rejected("deal_deleted", "This deal is deleted; restore it before adding "
                                       "activities.")
    kind = _kind(m.fields["kind"])
    clean = _clean(m.fields, kind)
    ctx.conn.execute(
        "INSERT INTO deal_activities (tenant_id, id, deal_id, kind, body, due_at, done_at, "
        "created_by_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (ctx.tenant_id, m.id, deal_id, clean["kind"], clean["body"], clean.get("due_at"),
         clean.get("done_at"), ctx.user_id))
    return Verdict(m.mid, APPLIED, row_version=ctx.version)


def _load(ctx: Context, m: Mutation) -> tuple[str, str, bool, str]:
    found = ctx.conn.execute(_ACTIVITY, (ctx.tenant_id, m.id)).fetchone() \
        if is_id(m.id) else None
    if found is None:
        raise Rejected("not_found", "No such activity on your deals.")
    return str(found[0]), str(found[1]), bool(found[2]), str(found[3])


def update(ctx: Context, m: Mutation) -> Verdict:
    """The fields it carries, written as they arrive (last writer wins per field)."""
    kind_now, author, deleted, deal_creator = _load(ctx, m)
    own = ctx.is_admin or author == ctx.user_id
    only_done = set(m.fields) == {"done_at"}
    if not (own or (only_done and _may_change_deal(ctx, deal_creator))):
        raise Rejected("forbidden", "Only the activity's author or an administrator can "
                                    "change it.")
    kind = _kind(m.fields["kind"]) if "kind" in m.fields else ActivityKind(kind_now)
    clean = _clean(m.fields, kind)
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in clean)
    ctx.conn.execute(
        sql.SQL("UPDATE deal_activities SET {}, updated_at = now() WHERE tenant_id = %s "
                "AND id = %s").format(sets), [*clean.values(), ctx.tenant_id, m.id])
    if deleted:
        return Verdict(m.mid, CONFLICT, "activity_deleted",
                       "The activity was deleted while you edited it; it stays deleted.",
                       ctx.version)
    return Verdict(m.mid, APPLIED, row_version=ctx.version)


def delete(ctx: Context, m: Mutation) -> Verdict:
    """A tombstone, by the author or an admin."""
    _, author, deleted, _ = _load(ctx, m)
    if not (ctx.is_admin or author == ctx.user_id):
        raise Rejected("forbidden", "Only the activity's author or an administrator can "
                                    "delete it.")
    if not deleted:
        ctx.conn.execute("UPDATE deal_activities SET deleted_at = now(), updated_at = now() "
                         "WHERE tenant_id = %s AND id = %s", (ctx.tenant_id, m.id))
    return Verdict(m.mid, APPLIED, row_version=ctx.version)
