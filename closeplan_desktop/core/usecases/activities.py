"""Deal activities (issue 15): non-PHI notes, calls, meetings, emails, tasks and next
steps on a deal. Add, edit, complete a task, delete; the timeline and "Tasks due" are
in `timeline`.

Permissions follow the deal's (`deals.may_change`): whoever may edit the deal may add
to it and complete its tasks; an activity is edited or deleted by its author or an
admin. Activities are not PHI and are stored unencrypted, so they write no access-log
row; a refused attempt is logged as an access denial, as for deals. Every change writes
its outbox row with it (sync: a create appends, an edit is last writer wins per field).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import utcnow
from ..domain.enums import AccessAction, AccessType, ActivityKind
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import NotFoundError, PermissionDenied, ValidationError
from ..domain.ids import is_id, new_id
from ..store.audit_log import log_event
from ..store.models import Deal, DealActivity, User
from ..store.outbox import record_row
from .deals import _deal, may_change
from .frame import AuthSession, Denied, actor, run

_UNSET: Any = object()
# Where the form says what an activity may hold (the window shows it under the text).
NOT_PHI_HINT = ("Activities are not encrypted: no patient details here. Patient details go "
                "in the deal's PHI fields, which are encrypted and logged.")


@dataclass(frozen=True)
class ActivityView:
    """An activity as lists show it, with its author's name and what the viewer may do."""

    id: str
    deal_id: str
    kind: ActivityKind
    body: str
    due_at: datetime | None
    done_at: datetime | None
    created_by_id: str
    created_by_name: str
    created_at: datetime
    updated_at: datetime
    deleted: bool
    may_edit: bool

    @property
    def is_task(self) -> bool:
        return self.kind == ActivityKind.TASK

    @property
    def overdue(self) -> bool:
        """An open task whose due day is before today (UTC)."""
        return (self.due_at is not None and self.done_at is None
                and self.due_at.date() < utcnow().date())


def view_of(s: Session, session: AuthSession, row: DealActivity) -> ActivityView:
    """The view of one activity row."""
    author = s.get(User, row.created_by_id)
    return ActivityView(row.id, row.deal_id, row.kind, row.body, row.due_at, row.done_at,
                        row.created_by_id, author.full_name if author else "(unknown user)",
                        row.created_at, row.updated_at, row.deleted_at is not None,
                        may_edit_activity(session, row.created_by_id))


def may_edit_activity(session: AuthSession, created_by_id: str) -> bool:
    """Whether the session may edit or delete an activity by `created_by_id`."""
    return session.is_admin or created_by_id == session.user_id


def _denied(session: AuthSession, action: str, target: str, message: str) -> Denied:
    def record(s: Session) -> None:
        log_event(s, session.ws, Ev.ACCESS_DENIED, session.tenant_id, session.user_id,
                  {"action": action, "activity": target})
    return Denied(PermissionDenied(message), record)


def _changeable_deal(s: Session, session: AuthSession, deal_id: object, action: str) -> Deal:
    deal = _deal(s, session, deal_id, AccessAction.DEAL_UPDATE, AccessType.WRITE)
    if not may_change(session, deal.owner_id):
        raise _denied(session, action, deal.id, "Only the deal's owner or an administrator "
                      "can add activities to it.")
    if deal.deleted_at is not None:
        raise ValidationError("This deal is deleted; restore it before adding activities.")
    return deal


def _activity(s: Session, session: AuthSession, activity_id: object, action: str
              ) -> DealActivity:
    row = s.get(DealActivity, activity_id) if is_id(activity_id) else None
    if row is None or row.tenant_id != session.tenant_id or row.deleted_at is not None:
        shown = activity_id if is_id(activity_id) else "(not an id)"
        raise Denied(NotFoundError("No such activity on your deals."),
                     lambda s2: log_event(s2, session.ws, Ev.ACCESS_DENIED, session.tenant_id,
                                          session.user_id, {"action": action,
                                                            "activity": str(shown)}))
    return row


def _due(kind: ActivityKind, due: Any) -> datetime | None:
    clean = validation.due_date(due)
    if clean is not None and kind not in (ActivityKind.TASK, ActivityKind.NEXT_STEP):
        raise ValidationError("Only a task or a next step has a due date.")
    return clean


def add_activity(session: AuthSession, deal_id: str, kind: ActivityKind | str, body: str,
                 due: date | datetime | str | None = None) -> ActivityView:
    """Whoever may edit the deal: add an activity to it (a task or next step may have a
    due day)."""
    clean_kind = validation.activity_kind(kind)
    clean_body = validation.activity_body(body)
    clean_due = _due(clean_kind, due)
    with run(session) as s:
        user = actor(s, session)
        deal = _changeable_deal(s, session, deal_id, "add activity")
        now = utcnow()
        row = DealActivity(id=new_id(), tenant_id=session.tenant_id, deal_id=deal.id,
                           kind=clean_kind, body=clean_body, due_at=clean_due, done_at=None,
                           created_by_id=user.id, created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        record_row(s, row, "create")
        return view_of(s, session, row)


def _save(s: Session, session: AuthSession, row: DealActivity, fields: list[str]
          ) -> ActivityView:
    if fields:
        row.updated_at = utcnow()
        record_row(s, row, "update", fields)
    return view_of(s, session, row)


def edit_activity(session: AuthSession, activity_id: str, *, kind: Any = _UNSET,
                  body: Any = _UNSET, due: Any = _UNSET) -> ActivityView:
    """Its author or an admin: change an activity's kind, text or due day."""
    with run(session) as s:
        actor(s, session)
        row = _activity(s, session, activity_id, "edit activity")
        if not may_edit_activity(session, row.created_by_id):
            raise _denied(session, "edit activity", row.id,
                          "Only the activity's author or an administrator can edit it.")
        new_kind = row.kind if kind is _UNSET else validation.activity_kind(kind)
        changes: dict[str, Any] = {}
        if kind is not _UNSET:
            changes["kind"] = new_kind
        if body is not _UNSET:
            changes["body"] = validation.activity_body(body)
        if due is not _UNSET:
            changes["due_at"] = _due(new_kind, due)
        elif row.due_at is not None and kind is not _UNSET:
            changes["due_at"] = _due(new_kind, row.due_at)
        fields = [k for k, v in changes.items() if getattr(row, k) != v]
        for key in fields:
            setattr(row, key, changes[key])
        return _save(s, session, row, fields)


def complete_task(session: AuthSession, activity_id: str, done: bool = True) -> ActivityView:
    """Mark a task or next step done (or open again): its author, an admin, or whoever
    may edit the deal."""
    with run(session) as s:
        actor(s, session)
        row = _activity(s, session, activity_id, "complete task")
        deal = s.get(Deal, row.deal_id)
        allowed = may_edit_activity(session, row.created_by_id) or (
            deal is not None and may_change(session, deal.owner_id))
        if not allowed:
            raise _denied(session, "complete task", row.id, "Only the task's author, the "
                          "deal's owner or an administrator can complete it.")
        if row.kind not in (ActivityKind.TASK, ActivityKind.NEXT_STEP):
            raise ValidationError("Only a task or a next step can be marked done.")
        fields: list[str] = []
        if done and row.done_at is None:
            row.done_at = utcnow()
            fields.append("done_at")
        elif not done and row.done_at is not None:
            row.done_at = None
            fields.append("done_at")
        return _save(s, session, row, fields)


def delete_activity(session: AuthSession, activity_id: str) -> ActivityView:
    """Its author or an admin: delete an activity (a tombstone, so sync carries it)."""
    with run(session) as s:
        actor(s, session)
        row = _activity(s, session, activity_id, "delete activity")
        if not may_edit_activity(session, row.created_by_id):
            raise _denied(session, "delete activity", row.id,
                          "Only the activity's author or an administrator can delete it.")
        row.deleted_at = row.updated_at = utcnow()
        record_row(s, row, "delete")
        return view_of(s, session, row)
