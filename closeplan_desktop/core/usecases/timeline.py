"""What happened on a deal (issue 15): its history (which fields changed, old and new
values, PHI only as "changed"), its timeline (activities and history together, newest
first, paged) and the signed-in user's "Tasks due" (due today or overdue).

Every user of the tenant reads these for any deal of the tenant, as they read its
fields: none of it is PHI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..domain import deal_words, validation
from ..domain.clock import local_today
from ..domain.enums import AccessType, ActivityKind
from ..domain.errors import NotFoundError
from ..domain.ids import is_id
from ..store.models import AccessLog, Deal, DealActivity, DealHistory, User
from .activities import ActivityView, view_of
from .deals import READ_DEAL, _denied_missing
from .frame import AuthSession, actor, run

PHI_CHANGED = "PHI changed"
USER_FIELDS = ("owner_id", "created_by_id")  # history names these users


@dataclass(frozen=True)
class FieldChange:
    """One field of a change: old and new values (text), or only that PHI changed."""

    field: str
    old: str | None
    new: str | None
    phi: bool = False

    def describe(self) -> str:
        label = deal_words.FIELD_LABELS.get(self.field, self.field)
        if self.phi:
            return PHI_CHANGED
        if self.old is None:
            return f"{label}: {self.new}"
        return f"{label}: {self.old} → {self.new}"


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a deal: its op (create, update, delete, restore), who, when, what."""

    id: str
    deal_id: str
    op: str
    changes: tuple[FieldChange, ...]
    user_id: str | None
    user_name: str
    at: datetime
    access_log_id: str | None

    def describe(self) -> str:
        """One line for people: the op and each field that changed."""
        head = {"create": "Created", "update": "Changed", "delete": "Deleted",
                "restore": "Restored"}.get(self.op, self.op)
        parts = [c.describe() for c in self.changes]
        return head + (": " + "; ".join(parts) if parts else "")


@dataclass(frozen=True)
class TimelineEntry:
    """An activity or a history entry, as the deal's timeline lists them."""

    at: datetime
    activity: ActivityView | None = None
    history: HistoryEntry | None = None


def user_names(s: Session, ids: set[str]) -> dict[str, str]:
    """Full names of the users `ids` (id -> name), for fields that hold a user."""
    if not ids:
        return {}
    return {u.id: u.full_name for u in s.scalars(select(User).where(User.id.in_(ids)))}


def field_change(entry: dict[str, Any], names: dict[str, str]) -> FieldChange:
    """One stored history entry (`store.history`'s shape) in words: users by name
    (`names`), money formatted, statuses as words, dates as dates (`deal_words`)."""
    name = str(entry.get("field"))
    if entry.get("changed") or name == "phi":
        return FieldChange(name, None, None, phi=True)
    old = None if "old" not in entry else deal_words.field_text(name, entry["old"], names)
    return FieldChange(name, old, deal_words.field_text(name, entry.get("new"), names))


def _entries(s: Session, rows: list[DealHistory]) -> list[HistoryEntry]:
    stored = {r.id: json.loads(r.changes) for r in rows}
    names = user_names(s, {r.user_id for r in rows if r.user_id}
                   | {str(c.get(side)) for entries in stored.values() for c in entries
                      for side in ("old", "new")
                      if c.get("field") in USER_FIELDS and c.get(side)})
    return [HistoryEntry(r.id, r.deal_id, r.op,
                         tuple(field_change(c, names) for c in stored[r.id]), r.user_id,
                         names.get(r.user_id or "", "the server"), r.created_at,
                         r.access_log_id) for r in rows]


def _visible_deal(s: Session, session: AuthSession, deal_id: object) -> Deal:
    actor(s, session)
    deal = s.get(Deal, deal_id) if is_id(deal_id) else None
    if deal is None or deal.tenant_id != session.tenant_id:
        raise _denied_missing(session, deal_id, READ_DEAL, AccessType.READ, deal)
    return deal


def deal_history(session: AuthSession, deal_id: str) -> list[HistoryEntry]:
    """Every recorded change of a deal, newest first."""
    with run(session, write=False) as s:
        deal = _visible_deal(s, session, deal_id)
        rows = list(s.scalars(select(DealHistory).where(DealHistory.deal_id == deal.id)
                              .order_by(DealHistory.created_at.desc(), DealHistory.id.desc())))
        return _entries(s, rows)


_TIMELINE = text(
    "SELECT kind, id FROM ("
    " SELECT created_at AS at, 'a' AS kind, id FROM deal_activities"
    "  WHERE deal_id = :deal AND deleted_at IS NULL"
    " UNION ALL SELECT created_at AS at, 'h' AS kind, id FROM deal_history"
    "  WHERE deal_id = :deal)"
    " ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset")


def timeline(session: AuthSession, deal_id: str, offset: int = 0,
             limit: int = 50) -> list[TimelineEntry]:
    """A page of the deal's activities and history together, newest first."""
    offset, limit = validation.page(offset, limit, max_limit=500)
    with run(session, write=False) as s:
        deal = _visible_deal(s, session, deal_id)
        keys = s.execute(_TIMELINE, {"deal": deal.id, "limit": limit,
                                     "offset": offset}).all()
        acts = {a.id: a for a in s.scalars(select(DealActivity).where(
            DealActivity.id.in_([k[1] for k in keys if k[0] == "a"])))}
        hist = {h.id: h for h in _entries(s, list(s.scalars(select(DealHistory).where(
            DealHistory.id.in_([k[1] for k in keys if k[0] == "h"])))))}
        out = []
        for kind, key in keys:
            if kind == "a":
                view = view_of(s, session, acts[key])
                out.append(TimelineEntry(view.created_at, activity=view))
            else:
                out.append(TimelineEntry(hist[key].at, history=hist[key]))
        return out


@dataclass(frozen=True)
class DueTask:
    """An open task of the signed-in user, with its deal's title."""

    activity: ActivityView
    deal_title: str


def tasks_due(session: AuthSession, today: date | None = None,
              limit: int = 200) -> list[DueTask]:
    """The signed-in user's open tasks and next steps due `today` (default: the user's
    local calendar day, `clock.local_today`) or earlier, oldest due first, on live deals."""
    day = today or local_today()
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    with run(session, write=False) as s:
        user = actor(s, session)
        rows = s.execute(
            select(DealActivity, Deal.title).join(Deal, Deal.id == DealActivity.deal_id)
            .where(DealActivity.tenant_id == session.tenant_id,
                   DealActivity.created_by_id == user.id,
                   DealActivity.due_at.is_not(None), DealActivity.done_at.is_(None),
                   DealActivity.deleted_at.is_(None), DealActivity.due_at < end,
                   DealActivity.kind.in_([ActivityKind.TASK, ActivityKind.NEXT_STEP]),
                   Deal.deleted_at.is_(None))
            .order_by(DealActivity.due_at, DealActivity.id).limit(limit)).all()
        return [DueTask(view_of(s, session, a), title) for a, title in rows]


def history_for_audit_row(session: AuthSession, access_log_id: str
                          ) -> tuple[str, str | None]:
    """The deal of an audit row of a deal change and its history entry's id (None when
    that entry is no longer this device's own: the server's row replaced it once sync
    answered, and the deal's history shows it at the same time)."""
    with run(session, write=False) as s:
        actor(s, session)
        log = s.get(AccessLog, access_log_id) if is_id(access_log_id) else None
        if log is None or log.tenant_id != session.tenant_id:
            raise NotFoundError("No such audit row in your workspace.")
        entry = s.scalar(select(DealHistory.id).where(
            DealHistory.access_log_id == log.id))
        return log.deal_id, entry

