"""A deal's history (issue 15): per change, its op and which fields changed, with the old
and new values of plain fields and only "changed" for PHI, written by core in the
transaction of the change (`changes.record_change`).

A change is a JSON list of entries `{"field", "old", "new"}` (a create has no "old"),
PHI as `{"field": "phi", "changed": true}`: never an envelope, never a value. The
server writes the same shape for the changes it applies (server migration 0011), and
its rows replace a local change's own once the server answered it (`core.sync`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from ..domain.clock import utcnow
from ..domain.ids import new_id
from .models import Deal, DealHistory
from .outbox import json_value

# The plain fields whose old and new values history keeps, in the order it lists them.
PLAIN_FIELDS = ("title", "status", "value", "owner_id", "expected_close_date", "probability",
                "created_by_id")
# Fields a create records only when set (the owner only when not the creator).
CREATE_OPTIONAL = ("expected_close_date", "probability")
PHI_FIELD = "phi"
OPS = ("create", "update", "delete", "restore")


def snapshot(deal: Deal) -> dict[str, Any]:
    """What history compares of a deal, as it stands before a change."""
    out = {f: json_value(getattr(deal, f)) for f in PLAIN_FIELDS}
    out[PHI_FIELD] = deal.phi
    return out


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a change from `before` (None: a create) to `after` (snapshots)."""
    entries: list[dict[str, Any]] = []
    for name in PLAIN_FIELDS:
        new = after[name]
        if before is None:
            # A create's author is the row's own user_id; its owner is named only when
            # another user; an unset close date or probability is not a change.
            if name == "created_by_id" or (name in CREATE_OPTIONAL and new is None) or (
                    name == "owner_id" and new == after["created_by_id"]):
                continue
            entries.append({"field": name, "new": new})
        elif before[name] != new:
            entries.append({"field": name, "old": before[name], "new": new})
    if (after[PHI_FIELD] is not None) if before is None else \
            before[PHI_FIELD] != after[PHI_FIELD]:
        entries.append({"field": PHI_FIELD, "changed": True})
    return entries


def changes_text(entries: list[dict[str, Any]]) -> str:
    """The stored JSON of a change's entries."""
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=False)


def record(s: Session, deal: Deal, op: str, before: Mapping[str, Any] | None, *,
           by: str, access_log_id: str | None, outbox_id: int | None) -> DealHistory:
    """Add the history row of a change `by` made to `deal` (from `before`), in the
    caller's transaction."""
    row = DealHistory(id=new_id(), tenant_id=deal.tenant_id, deal_id=deal.id, op=op,
                      changes=changes_text(diff(before, snapshot(deal))), user_id=by,
                      created_at=utcnow(), access_log_id=access_log_id, outbox_id=outbox_id)
    s.add(row)
    return row


# The history rows of deals a bulk import created, from their outbox rows (one
# statement per batch: the payload holds every value the entries need).
IMPORTED_SQL = """
INSERT INTO deal_history (id, tenant_id, deal_id, op, changes, user_id, created_at,
                          access_log_id, outbox_id, row_version)
SELECT 'h' || lower(hex(randomblob(12))), o.tenant_id, o.entity_id, 'create',
       json_array(json_object('field', 'title', 'new', json_extract(o.payload, '$.title')),
                  json_object('field', 'status', 'new', json_extract(o.payload, '$.status')),
                  json_object('field', 'value', 'new', json_extract(o.payload, '$.value')))
         AS plain, json_extract(o.payload, '$.created_by_id'), o.created_at, NULL, o.id, 0
FROM outbox o WHERE o.id > ? AND o.entity = 'deals' AND o.op = 'create'
"""
# The same rows' entries of an imported owner (not the importer), close date and
# probability: run only when the file has such columns (each appends to the rows that
# set it, in PLAIN_FIELDS' order).
IMPORTED_EXTRA_SQL = [f"""
UPDATE deal_history SET changes = json_insert(changes, '$[#]', json_object(
    'field', '{name}', 'new', (SELECT json_extract(payload, '$.{name}') FROM outbox
                               WHERE outbox.id = deal_history.outbox_id)))
WHERE outbox_id > ? AND op = 'create' AND outbox_id IN (
    SELECT id FROM outbox WHERE id > ? AND entity = 'deals' AND op = 'create'
    AND {condition})
""" for name, condition in (  # noqa: S608 (constant names)
    ("owner_id", "json_extract(payload, '$.owner_id') <> "
                 "json_extract(payload, '$.created_by_id')"),
    ("expected_close_date", "json_extract(payload, '$.expected_close_date') IS NOT NULL"),
    ("probability", "json_extract(payload, '$.probability') IS NOT NULL"))]
# The same rows' PHI entry, for the deals that have PHI.
IMPORTED_PHI_SQL = """
UPDATE deal_history SET changes = json_insert(changes, '$[#]',
                                              json_object('field', 'phi', 'changed', json('true')))
WHERE outbox_id > ? AND op = 'create' AND outbox_id IN (
    SELECT id FROM outbox WHERE id > ? AND entity = 'deals' AND op = 'create'
    AND json_extract(payload, '$.phi') IS NOT NULL)
"""
