"""What sync left for the user to look at, in words: conflicts (a field two devices
changed; the value kept and the value that lost) and the server's rejections (its reason).

A losing PHI value stays an envelope in the mirror and here: `reveal_losing_phi` opens it
like any PHI, after committing its access-log row, for the users who may reveal the deal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain import deal_words
from ..domain.enums import AccessAction, AccessType, UserRole
from ..domain.errors import CryptoError, KeyringError, NotFoundError, PermissionDenied
from ..security import crypto
from ..store.audit_log import log_access
from ..store.models import Deal, SyncConflict, SyncRejection, User
from ..store.phi_keys import phi_key
from ..usecases.frame import AuthSession, actor, run
from ..usecases.timeline import USER_FIELDS, user_names

PHI_FIELD = "phi"
# How each synced field is named to the user.
FIELD_WORDS = {**deal_words.FIELD_LABELS, "email": "Email", "first_name": "First name",
               "last_name": "Last name", "role": "Role", "deactivated_at": "Deactivated"}
TABLE_WORDS = {"deals": "Deal", "users": "User"}
HIDDEN = "The deal's current PHI (reveal it in the deal)"


@dataclass(frozen=True)
class ConflictView:
    """One conflict in words. `losing` is None for a PHI value (see `reveal_losing_phi`)."""

    id: str
    what: str  # "Deal “Cardiology suite”"
    field: str  # "Title"
    kept: str
    losing: str | None
    is_phi: bool
    at: datetime
    row_id: str


@dataclass(frozen=True)
class RejectionView:
    """One change the server refused, with its reason."""

    id: str
    what: str
    op: str
    reason: str
    at: datetime


def _parsed(value: str | None) -> object:
    """A stored JSON value (the text itself when it is not JSON; None when empty)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _words(value: str | None) -> str:
    """A JSON value as the user reads it."""
    found = _parsed(value)
    if found is None:
        return "(empty)"
    if isinstance(found, dict | list):
        return json.dumps(found, ensure_ascii=False)
    return str(found)


def _what(names: dict[str, str], table: str, row_id: str | None) -> str:
    kind = TABLE_WORDS.get(table, table)
    name = names.get(row_id or "")
    return f"{kind} “{name}”" if name else f"{kind} {row_id or ''}".strip()


def _names(s: Session, session: AuthSession, deal_ids: set[str], user_ids: set[str]
           ) -> dict[str, str]:
    out: dict[str, str] = {}
    if deal_ids:
        out.update({i: t for i, t in s.execute(select(Deal.id, Deal.title).where(
            Deal.id.in_(deal_ids), Deal.tenant_id == session.tenant_id))})
    if user_ids:
        out.update({i: e for i, e in s.execute(select(User.id, User.email).where(
            User.id.in_(user_ids), User.tenant_id == session.tenant_id))})
    return out


def counts(session: AuthSession) -> tuple[int, int]:
    """How many conflicts and rejections wait to be looked at (the status bar)."""
    with run(session, write=False) as s:
        conflicts = s.scalar(select(func.count()).select_from(SyncConflict)
                             .where(SyncConflict.resolved_at.is_(None))) or 0
        rejections = s.scalar(select(func.count()).select_from(SyncRejection)
                              .where(SyncRejection.acknowledged_at.is_(None))) or 0
    return int(conflicts), int(rejections)


def list_conflicts(session: AuthSession) -> list[ConflictView]:
    """The unresolved conflicts, newest first, each in words (PHI values never shown)."""
    with run(session, write=False) as s:
        actor(s, session)
        rows = s.scalars(select(SyncConflict).where(SyncConflict.resolved_at.is_(None))
                         .order_by(SyncConflict.created_at.desc())).all()
        names = _names(s, session, {r.row_id for r in rows if r.table_name == "deals"},
                       {r.row_id for r in rows if r.table_name == "users"})
        people = user_names(s, {v for r in rows if r.table_name == "deals"
                                and r.field in USER_FIELDS
                                for v in (_parsed(r.kept_value), _parsed(r.losing_value))
                                if isinstance(v, str)})

        def words(r: SyncConflict, value: str | None) -> str:
            # A deal's field as its history says it: owners by name, money, dates.
            if r.table_name == "deals" and r.field in deal_words.FIELD_LABELS:
                return deal_words.field_text(r.field, _parsed(value), people)
            return _words(value)

        out = []
        for r in rows:
            phi = r.field == PHI_FIELD
            out.append(ConflictView(
                r.id, _what(names, r.table_name, r.row_id), FIELD_WORDS.get(r.field, r.field),
                HIDDEN if phi else words(r, r.kept_value),
                None if phi else words(r, r.losing_value), phi, r.created_at, r.row_id))
        return out


def list_rejections(session: AuthSession) -> list[RejectionView]:
    """The server's refusals not yet acknowledged, newest first, with its reasons."""
    with run(session, write=False) as s:
        actor(s, session)
        rows = s.scalars(select(SyncRejection).where(SyncRejection.acknowledged_at.is_(None))
                         .order_by(SyncRejection.created_at.desc())).all()
        names = _names(s, session, {r.row_id for r in rows if r.table_name == "deals" and r.row_id},
                       {r.row_id for r in rows if r.table_name == "users" and r.row_id})
        return [RejectionView(r.id, _what(names, r.table_name, r.row_id), r.op, r.message,
                              r.created_at) for r in rows]


def reveal_losing_phi(session: AuthSession, conflict_id: str) -> dict[str, str]:
    """Decrypt the PHI value that lost a conflict, after committing its access-log row
    (the deal's owner and admins only: a break-glass reveal goes through the deal)."""
    with run(session) as s:
        user = actor(s, session)
        conflict = s.get(SyncConflict, conflict_id)
        if conflict is None or conflict.field != PHI_FIELD or conflict.table_name != "deals":
            raise NotFoundError("No such PHI conflict; refresh the list.")
        deal = s.get(Deal, conflict.row_id)
        if deal is None or deal.tenant_id != session.tenant_id:
            raise NotFoundError("The deal of this conflict is not in this workspace.")
        if user.role != UserRole.ADMIN and deal.owner_id != user.id:
            raise PermissionDenied("Only the deal's owner or an administrator can see the "
                                   "PHI value that lost this conflict.")
        losing = json.loads(conflict.losing_value or "null")
        if not isinstance(losing, dict) or not losing.get("phi"):
            return {}
        envelope = str(losing["phi"])
        try:
            plain = crypto.decrypt_phi(
                phi_key(session.ws, session.tenant_id, crypto.envelope_version(envelope)),
                session.tenant_id, deal.id, envelope)
        except (CryptoError, KeyringError):
            raise CryptoError("The losing PHI value cannot be opened on this laptop (its "
                              "key is not here).") from None
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=user.id,
                   deal_id=deal.id, action=AccessAction.PHI_ACCESS,
                   access_type=AccessType.READ, success=True,
                   reason="losing value of a sync conflict")
    return plain
