"""Deal use cases: create, edit, reassign, delete (tombstone), restore, reveal PHI (and
break-glass). Lists are in `deal_list`, CSV import in `deal_import`.

Permissions (docs/architecture.md, "Rules the core enforces"): every user lists, searches
and creates; edit, reassign, delete, restore and reveal are for the deal's owner and
admins (issue 15: the owner, not the creator: a rep who handed a deal over needs
break-glass for it then); a USER reveals another's PHI only by break-glass, with a typed
reason. Anything of another tenant answers as missing and is logged as denied.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ..domain import money, validation
from ..domain.clock import utcnow
from ..domain.enums import AccessAction, AccessType, DealStatus, UserRole
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import (
    BreakGlassRequired,
    CryptoError,
    KeyringError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from ..domain.ids import is_id, new_id
from ..domain.phi_value import Phi
from ..security import crypto
from ..store import history
from ..store.audit_log import log_access, log_event
from ..store.changes import record_change
from ..store.models import Deal, User
from ..store.phi_keys import active_version, phi_key
from .deal_list import DealSummary, summary_of
from .frame import AuthSession, Denied, actor, run

_UNSET: Any = object()
# What a refused plain read (a deal's fields, never its PHI) is logged as (finding 12).
READ_DEAL = "DEAL_READ"


def _denied_missing(session: AuthSession, deal_id: object, action: AccessAction | str,
                    access_type: AccessType, found: Deal | None) -> Denied:
    """Missing and other-tenant deals answer alike; both are logged as denied."""
    # An access row records an attempt on a deal's data (its PHI, or a change). A plain
    # read is not one (successful reads write no row), so a refused one is an access
    # denial, the security event core writes for any refused request: logging it as a
    # refused PHI_ACCESS would count a PHI attempt that never happened (issue 13,
    # finding 12). It is alike for missing and other-tenant deals, as the answer is.
    as_access = action if isinstance(action, AccessAction) else None
    other_tenant_id = found.id if found is not None else None

    def record(s: Session) -> None:
        if other_tenant_id is not None and as_access is not None:
            log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=other_tenant_id, action=as_access, access_type=access_type,
                       success=False)
        else:
            log_event(s, session.ws, Ev.ACCESS_DENIED, session.tenant_id, session.user_id,
                      {"action": str(action),
                       "deal": deal_id if is_id(deal_id) else "(not an id)"})

    return Denied(NotFoundError("No such deal in your workspace."), record)


def _deal(s: Session, session: AuthSession, deal_id: object, action: AccessAction,
          access_type: AccessType) -> Deal:
    deal = s.get(Deal, deal_id) if is_id(deal_id) else None
    if deal is None or deal.tenant_id != session.tenant_id:
        raise _denied_missing(session, deal_id, action, access_type, deal)
    return deal


def may_change(session: AuthSession, owner_id: str) -> bool:
    """Whether the session may edit, reassign, delete, restore and reveal (without
    break-glass) a deal owned by `owner_id`: its owner and admins may
    (docs/architecture.md, "Rules the core enforces")."""
    return session.role == UserRole.ADMIN or owner_id == session.user_id


def needs_break_glass(session: AuthSession, owner_id: str) -> bool:
    """Whether revealing the PHI of a deal owned by `owner_id` needs a typed reason."""
    return not may_change(session, owner_id)


def owner_lookup(s: Session, tenant_id: str) -> validation.OwnerLookup:
    """`validation.owner`'s lookup: "active", "inactive" or None for a user id."""
    def look(user_id: str) -> str | None:
        user = s.get(User, user_id) if is_id(user_id) else None
        if user is None or user.tenant_id != tenant_id:
            return None
        return "active" if user.active else "inactive"
    return look


def _owned(s: Session, session: AuthSession, deal_id: object, action: AccessAction) -> Deal:
    """A deal the actor may change: their own, or any if admin; else logged and refused."""
    user = actor(s, session)
    deal = _deal(s, session, deal_id, action, AccessType.WRITE)
    if user.role != UserRole.ADMIN and deal.owner_id != user.id:
        deal_id_ok = deal.id

        def record(s2: Session) -> None:
            log_access(s2, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=deal_id_ok, action=action, access_type=AccessType.WRITE,
                       success=False)

        raise Denied(PermissionDenied("Only the deal's owner or an administrator can change "
                                      "it."), record)
    return deal


def get_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """A deal of the tenant, without PHI."""
    with run(session, write=False) as s:
        actor(s, session)
        deal = s.get(Deal, deal_id) if is_id(deal_id) else None
        if deal is None or deal.tenant_id != session.tenant_id:
            raise _denied_missing(session, deal_id, READ_DEAL, AccessType.READ, deal)
        return summary_of(s, deal)


def _encrypt(session: AuthSession, s: Session, deal_id: str,
             phi: Phi | None) -> tuple[str | None, int | None]:
    if not phi:
        return None, None
    version = active_version(s, session.tenant_id)
    key = phi_key(session.ws, session.tenant_id, version)
    return crypto.encrypt_phi(key, version, session.tenant_id, deal_id, phi), version


def create_deal(session: AuthSession, title: str, status: DealStatus | str,
                value: Decimal | str | int, phi: Phi | str | None = None, *,
                owner_id: str | None = None, expected_close_date: date | str | None = None,
                probability: int | str | None = None) -> DealSummary:
    """Any user: create a deal, its audit row and its outbox row. The actor creates it;
    it is owned by `owner_id` (an active user of the tenant; the actor by default)."""
    clean_title = validation.title(title)
    clean_status = validation.status(status)
    amount = money.parse(value)
    clean_phi = validation.phi(phi)
    close = validation.close_date(expected_close_date)
    chance = validation.probability(probability)
    with run(session) as s:
        user = actor(s, session)
        owner = user.id if owner_id is None else validation.owner(
            owner_id, owner_lookup(s, session.tenant_id))
        deal_id = new_id()
        envelope, version = _encrypt(session, s, deal_id, clean_phi)
        now = utcnow()
        deal = Deal(id=deal_id, title=clean_title, status=clean_status, value=amount,
                    phi=envelope, phi_key_version=version, tenant_id=session.tenant_id,
                    created_by_id=user.id, created_at=now, updated_at=now, owner_id=owner,
                    expected_close_date=close, probability=chance)
        s.add(deal)
        s.flush()
        record_change(s, session.ws, deal, "create", by=user.id)
        return summary_of(s, deal)


def update_deal(session: AuthSession, deal_id: str, *, title: Any = _UNSET,
                status: Any = _UNSET, value: Any = _UNSET, phi: Any = _UNSET,
                owner_id: Any = _UNSET, expected_close_date: Any = _UNSET,
                probability: Any = _UNSET) -> DealSummary:
    """Owner or admin: change fields of a deal. `phi` replaces the PHI (None clears it);
    `expected_close_date` and `probability` take None to clear; `owner_id` hands the
    deal to another active user (as `reassign_deal`)."""
    changes: dict[str, Any] = {}
    if title is not _UNSET:
        changes["title"] = validation.title(title)
    if status is not _UNSET:
        changes["status"] = validation.status(status)
    if value is not _UNSET:
        changes["value"] = money.parse(value)
    if expected_close_date is not _UNSET:
        changes["expected_close_date"] = validation.close_date(expected_close_date)
    if probability is not _UNSET:
        changes["probability"] = validation.probability(probability)
    new_phi = validation.phi(phi) if phi is not _UNSET else _UNSET
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_UPDATE)
        # The owner is checked only when it changes: a deal whose owner was deactivated
        # can still be edited (the form keeps showing that owner).
        if owner_id is not _UNSET and owner_id != deal.owner_id:
            changes["owner_id"] = validation.owner(owner_id, owner_lookup(s, session.tenant_id))
        if deal.deleted_at is not None:
            raise ValidationError("This deal is deleted; restore it before editing.")
        before = history.snapshot(deal)
        # The audit row names the fields that changed (PHI: that it was written).
        fields = [key for key, val in changes.items() if getattr(deal, key) != val]
        for key, val in changes.items():
            setattr(deal, key, val)
        if new_phi is not _UNSET and (new_phi or deal.phi is not None):
            fields.append("phi")
            deal.phi, deal.phi_key_version = _encrypt(session, s, deal.id, new_phi)
        deal.updated_at = utcnow()
        record_change(s, session.ws, deal, "update", by=session.user_id, fields=fields,
                      before=before)
        return summary_of(s, deal)


def reassign_deal(session: AuthSession, deal_id: str, owner_id: str) -> DealSummary:
    """The deal's owner or an admin: hand the deal to `owner_id`, an active user of the
    tenant. Logged as a DEAL_UPDATE naming owner_id, with a history row of the old and
    new owner; the previous owner (a USER) needs break-glass for its PHI from then on."""
    return update_deal(session, deal_id, owner_id=owner_id)


def delete_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """Owner or admin: delete as a tombstone (logs keep pointing at it; it can be restored)."""
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_DELETE)
        if deal.deleted_at is None:
            before = history.snapshot(deal)
            deal.deleted_at = deal.updated_at = utcnow()
            record_change(s, session.ws, deal, "delete", by=session.user_id, before=before)
        return summary_of(s, deal)


def restore_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """Owner or admin: bring a deleted deal back (logged as an update)."""
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_UPDATE)
        if deal.deleted_at is not None:
            before = history.snapshot(deal)
            deal.deleted_at = None
            deal.updated_at = utcnow()
            record_change(s, session.ws, deal, "restore", by=session.user_id,
                          fields=("deleted_at",), before=before)
        return summary_of(s, deal)


def reveal_phi(session: AuthSession, deal_id: str, reason: str | None = None) -> Phi:
    """Decrypt a deal's PHI for display, after committing its access-log row.

    The owner and admins reveal directly. A USER revealing another's deal must give a
    reason (break-glass): the row carries it and a BREAK_GLASS event flags it. Without a
    reason the attempt is logged as refused. If the log row cannot be written, nothing is
    shown. A deal without PHI shows nothing and logs no PHI_ACCESS row.
    """
    with run(session) as s:
        user = actor(s, session)
        deal = _deal(s, session, deal_id, AccessAction.PHI_ACCESS, AccessType.READ)
        break_glass = user.role != UserRole.ADMIN and deal.owner_id != user.id
        clean_reason = None
        if break_glass:
            if reason is None or (isinstance(reason, str) and not reason.strip()):
                raise Denied(
                    BreakGlassRequired("This deal belongs to another user: give a reason to "
                                       "reveal its PHI (break-glass; it is logged and "
                                       "reviewed)."),
                    _refused(session, deal.id))
            clean_reason = validation.reason(reason)
        if deal.phi is None:
            # Nothing is shown, so no PHI was accessed: no PHI_ACCESS row claims it was
            # (issue 13, finding 12). A break-glass attempt is still flagged.
            if break_glass:
                log_event(s, session.ws, Ev.BREAK_GLASS, session.tenant_id, user.id,
                          {"deal": deal.id, "owner": deal.owner_id, "phi": False})
            return {}
        try:
            plain = crypto.decrypt_phi(
                phi_key(session.ws, session.tenant_id, crypto.envelope_version(deal.phi)),
                session.tenant_id, deal.id, deal.phi)
        except (CryptoError, KeyringError) as exc:
            raise Denied(exc, _refused(session, deal.id)) from None
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=user.id,
                   deal_id=deal.id, action=AccessAction.PHI_ACCESS, access_type=AccessType.READ,
                   success=True, reason=clean_reason)
        if break_glass:
            log_event(s, session.ws, Ev.BREAK_GLASS, session.tenant_id, user.id,
                      {"deal": deal.id, "owner": deal.owner_id})
    return plain


def _refused(session: AuthSession, deal_id: str) -> Any:
    def record(s: Session) -> None:
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                   deal_id=deal_id, action=AccessAction.PHI_ACCESS, access_type=AccessType.READ,
                   success=False)
    return record
