"""The outbox: every local change, recorded with the change, for sync to push later.

One format for every writer, the use cases through the ORM and the bulk imports alike:
a JSON object of every column of the row in its stored form (times as UTC ISO text,
money as text with two places, enums as their values, PHI as its encrypted envelope),
keys sorted, no spaces. Sync pushes exactly these rows.

Beside the row, an outbox row keeps what push sends (0005): `base_version`, the server
version the row stood at when the change began (null for a create), and `fields`, the
names of the fields the change made (null: every field, as for a create).

Sync needs only the latest state of an entity, so a deal's change drops the PHI envelope
from the deal's earlier outbox rows (its ``phi`` becomes null): no superseded envelope
stays behind to be opened later (issue 13, finding 6).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from sqlalchemy import FromClause
from sqlalchemy.orm import Session

from ..domain import money
from ..domain.clock import iso, utcnow
from .models import Deal, DealActivity, Outbox, SavedView, Tenant, User

Op = Literal["create", "update", "delete", "restore"]

INSERT_SQL = ("INSERT INTO outbox (tenant_id, entity, entity_id, op, payload, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?)")


def json_value(value: Any) -> Any:
    """A column value as the outbox carries it."""
    if isinstance(value, Decimal):
        return money.to_text(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def payload(table: FromClause, values: Mapping[str, Any]) -> str:
    """The payload of one row of `table`: every column, from `values` (a missing column is
    a KeyError, so a bulk writer cannot drift from the table)."""
    return json.dumps({c.key: json_value(values[c.key]) for c in table.columns},
                      sort_keys=True, separators=(",", ":"))


Row = Deal | User | Tenant | DealActivity | SavedView


def row_payload(row: Row) -> str:
    """The payload of an ORM row, as it stands in the session."""
    return payload(row.__table__, {c.key: getattr(row, c.key) for c in row.__table__.columns})


DROP_OLD_ENVELOPES_SQL = (
    "UPDATE outbox SET payload = json_set(payload, '$.phi', NULL) WHERE entity = 'deals' "
    "AND entity_id = ? AND json_extract(payload, '$.phi') IS NOT NULL")


def record_row(s: Session, row: Row, op: Op, fields: Sequence[str] | None = None) -> Outbox:
    """Add the outbox row of a changed row in the caller's transaction (for a deal, after
    dropping the PHI envelopes of its earlier rows) and return it. `fields`: what an
    update changed."""
    if isinstance(row, Deal):
        s.connection().exec_driver_sql(DROP_OLD_ENVELOPES_SQL, (row.id,))
    tenant_id = row.id if isinstance(row, Tenant) else row.tenant_id
    extra: dict[str, Any] = {}  # a create sets neither, as rows before 0005 had it
    if op != "create":
        extra["base_version"] = row.row_version or 0
        if fields is not None:
            extra["fields"] = json.dumps(sorted(set(fields)))
    out = Outbox(tenant_id=tenant_id, entity=row.__tablename__, entity_id=row.id, op=op,
                 payload=row_payload(row), created_at=utcnow(), **extra)
    s.add(out)
    return out
