"""The outbox: every local change, recorded with the change, for sync to push later."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from .clock import iso, utcnow
from .models import Deal, Outbox, Tenant, User


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return iso(value)
    if hasattr(value, "value"):
        return value.value
    return value


def snapshot(row: Deal | User | Tenant) -> dict[str, Any]:
    """The row's columns as JSON values (PHI stays the encrypted envelope)."""
    return {c.key: _jsonable(getattr(row, c.key)) for c in row.__table__.columns}


def record(s: Session, tenant_id: str, entity: str, entity_id: str, op: str,
           payload: dict[str, Any]) -> None:
    """Add an outbox row in the caller's transaction."""
    s.add(Outbox(tenant_id=tenant_id, entity=entity, entity_id=entity_id, op=op,
                 payload=json.dumps(payload, sort_keys=True, separators=(",", ":")),
                 created_at=utcnow()))


def record_row(s: Session, row: Deal | User | Tenant, op: str) -> None:
    """Record a whole row of a mirrored table."""
    tenant_id = row.id if isinstance(row, Tenant) else row.tenant_id
    record(s, tenant_id, row.__tablename__, row.id, op, snapshot(row))
