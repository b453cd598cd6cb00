"""A local change's records: its audit row and its outbox row, in the change's transaction.

Every use case that writes a row of a mirrored table calls `record_change` right after
the write, so the change, who made it and what sync will push commit together. Rows
applied from a pull are the server's: they skip this step (no audit row, no outbox row).
The bulk imports write the same rows by prepared statements (`outbox.payload`,
`chain.next_links`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..domain.enums import AccessAction, AccessType, SecurityEventType
from . import history
from .audit_log import deal_change_resource, log_access, log_event
from .models import Deal, Tenant, User
from .outbox import Op, record_row

if TYPE_CHECKING:
    from .workspace import Workspace

# What a change to each table is, as the window's announcement names it (`ui.kit.ops.Kind`
# has the same values): sync announces the rows it applies as local edits are announced.
KIND_OF_TABLE = {"deals": "deals", "users": "users", "tenants": "settings",
                 "phi_keys": "keys", "key_grants": "keys", "conflicts": "deals",
                 "rejections": "deals", "access_logs": "audit", "security_events": "audit",
                 "deal_activities": "deals", "deal_history": "deals",
                 "saved_views": "deals"}


def kinds_of(tables: Iterable[str]) -> frozenset[str]:
    """The kinds of data that changes to `tables` touch."""
    return frozenset(KIND_OF_TABLE[t] for t in tables if t in KIND_OF_TABLE)


# The access-log action of each change to a deal (a restore is an update).
DEAL_ACTIONS: dict[str, AccessAction] = {
    "create": AccessAction.DEAL_CREATE, "update": AccessAction.DEAL_UPDATE,
    "restore": AccessAction.DEAL_UPDATE, "delete": AccessAction.DEAL_DELETE,
}


def record_change(s: Session, ws: Workspace, row: Deal | User | Tenant, op: Op, *,
                  by: str | None, event: SecurityEventType | None = None,
                  detail: dict[str, Any] | None = None, fields: Sequence[str] = (),
                  before: Mapping[str, Any] | None = None) -> None:
    """The audit row and the outbox row of a change that `by` (a user id) made to `row`.

    A deal's change is an access-log row (DEAL_CREATE, DEAL_UPDATE or DEAL_DELETE) whose
    resource names the `fields` it changed (names only: never values, never PHI), and a
    history row that points to it, with the values from `before` (`history.snapshot`
    of the deal before the change; None for a create); a user's or tenant's is the
    security event `event` with `detail` (ids, never secrets).
    """
    if isinstance(row, Deal):
        assert by is not None
        log_id = log_access(s, ws, tenant_id=row.tenant_id, user_id=by, deal_id=row.id,
                            action=DEAL_ACTIONS[op], access_type=AccessType.WRITE,
                            success=True,
                            resource=deal_change_resource(fields) if fields else None)
        pushed = record_row(s, row, op, fields if fields else None)
        s.flush()  # the outbox row's id, which the history row keeps
        history.record(s, row, op, before, by=by, access_log_id=log_id, outbox_id=pushed.id)
        return
    assert event is not None
    tenant_id = row.id if isinstance(row, Tenant) else row.tenant_id
    log_event(s, ws, event, tenant_id, by, detail or {})
    record_row(s, row, op, fields if fields else None)
