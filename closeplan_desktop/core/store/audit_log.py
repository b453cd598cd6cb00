"""The audit log's low-level writers: chained access-log rows and security events.

Each writer appends in the caller's transaction, so a change and its audit row commit
together. Reading, verifying for an admin and exporting are use cases
(`core.usecases.audit`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..domain.clock import iso, utcnow
from ..domain.enums import AccessAction, AccessType, SecurityEventType
from ..domain.ids import new_id
from ..domain.progress import Progress, no_progress
from ..security.keyring_store import AUDIT_SLOT
from . import anchor, chain, db
from .models import AccessLog, SecurityEvent, Tenant

if TYPE_CHECKING:
    from .workspace import Workspace

RESOURCE_DEAL_PHI = "deal.phi"
RESOURCE_DEAL = "deal"
OTHER_TENANT_DEAL = "(a deal outside this tenant)"


def deal_change_resource(fields: Sequence[str]) -> str:
    """The resource of a deal change's access-log row: "deal", with the names of the
    fields it changed when known ("deal:title,value,phi"); never their values."""
    return f"{RESOURCE_DEAL}:{','.join(fields)}" if fields else RESOURCE_DEAL


def changed_fields(resource: str) -> tuple[str, ...]:
    """The field names `deal_change_resource` recorded (none for older rows)."""
    head, _, tail = resource.partition(":")
    return tuple(f for f in tail.split(",") if f) if head == RESOURCE_DEAL else ()


def audit_key(ws: Workspace) -> bytes:
    """The workspace's audit MAC key (from the keyring, cached)."""
    return ws.keyring.require(AUDIT_SLOT, "audit key")


def access_row(s: Session, ws: Workspace, *, tenant_id: str, user_id: str, deal_id: str,
               action: AccessAction, access_type: AccessType, success: bool,
               reason: str | None = None, resource: str | None = None) -> dict[str, Any]:
    """The column values of the next chained access-log row (moves the chain head).
    `resource` defaults to the action's ("deal.phi" for a reveal, else "deal").

    For bulk writers that insert many rows at once; everyone else calls `log_access`.
    """
    if resource is None:
        resource = RESOURCE_DEAL_PHI if action == AccessAction.PHI_ACCESS else RESOURCE_DEAL
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(), "user_id": user_id, "deal_id": deal_id, "action": action.value,
        "access_type": access_type.value, "resource_type": resource, "success": success,
        "timestamp": iso(now), "tenant_id": tenant_id, "device_id": ws.device_id,
        "reason": reason,
    }
    values["seq"], values["chain_hash"] = chain.next_link(
        s, audit_key(ws), "access_logs", ws.device_id, values)
    anchor.track(s, ws.anchor)
    values["timestamp"] = now
    values["action"], values["access_type"] = action, access_type
    return values


def log_access(s: Session, ws: Workspace, *, tenant_id: str, user_id: str, deal_id: str,
               action: AccessAction, access_type: AccessType, success: bool,
               reason: str | None = None, resource: str | None = None) -> str:
    """Append one chained access-log row in the caller's transaction; returns its id."""
    values = access_row(s, ws, tenant_id=tenant_id, user_id=user_id, deal_id=deal_id,
                        action=action, access_type=access_type, success=success, reason=reason,
                        resource=resource)
    s.execute(insert(AccessLog), [values])
    return str(values["id"])


def sole_tenant(s: Session, ws: Workspace) -> str | None:
    """The workspace's one tenant (None before it is made, or in an older workspace that
    holds more than one)."""
    if ws.sole_tenant_id is None:
        ids = list(s.scalars(select(Tenant.id).limit(2)))
        if len(ids) == 1:
            ws.sole_tenant_id = ids[0]
    return ws.sole_tenant_id


def log_event(s: Session, ws: Workspace, type_: SecurityEventType, tenant_id: str | None,
              user_id: str | None, detail: dict[str, Any]) -> str:
    """Append one chained security event in the caller's transaction; returns its id.

    `detail` holds ids, counts and emails only: never PHI, passwords or keys. An event
    of no particular tenant (a kit import, a failed sign-in for an unknown email) belongs
    to the workspace's one tenant, so that its admins see it.
    """
    if tenant_id is None:
        tenant_id = sole_tenant(s, ws)
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(), "tenant_id": tenant_id, "user_id": user_id, "type": type_.value,
        "detail": text, "timestamp": iso(now), "device_id": ws.device_id,
    }
    values["seq"], values["chain_hash"] = chain.next_link(
        s, audit_key(ws), "security_events", ws.device_id, values)
    anchor.track(s, ws.anchor)
    values["timestamp"] = now
    s.execute(insert(SecurityEvent), [values])
    return str(values["id"])


def verify_workspace(ws: Workspace, progress: Progress = no_progress, *,
                     parallel_from: int | None = None) -> chain.ChainReport:
    """Verify every log chain of the workspace (no session: used by `doctor`, and by the
    self-test, which sets `parallel_from` low to prove that worker processes start)."""
    with db.read_session(ws.engine) as s:
        report = chain.verify(s, audit_key(ws), progress, connect=db.connector(ws.engine),
                              parallel_from=parallel_from)
        return against_anchor(s, ws, report)


def against_anchor(s: Session, ws: Workspace, report: chain.ChainReport) -> chain.ChainReport:
    """`report`, or a problem when the chains verify but stand behind the position the
    keyring recorded (emptied together with their heads, or cut back to an older head)."""
    if not report.ok or ws.anchor is None:
        return report
    why = anchor.problem(s, ws.anchor.state)
    if why is None:
        return report
    return chain.ChainReport(report.rows_checked, chain.ChainProblem(
        "audit log", None, None, f"{why}: rows were removed or the database was rolled back"),
        report.ranges_in_workers)
