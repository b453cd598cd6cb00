"""Outbox rows as the server's push takes them: `{mid, table, op, id, base_version,
fields}`, only the fields the change made (SYNC.md, Protocol).

The outbox keeps the whole row in its stored form; a row's `fields` names what the
change made (null: every field, as a create has). PHI is one field, the envelope with
its key version, and always the deal's current one: a later change of the deal drops
the envelopes of its earlier outbox rows (`store.outbox`), and the latest is what the
server must end with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Which fields of each table push sends (the server's shapes, `server/sync/mutations`).
DEAL_FIELDS = ("title", "status", "value", "owner_id", "expected_close_date", "probability")
USER_FIELDS = ("email", "first_name", "last_name", "role")
ACTIVITY_FIELDS = ("kind", "body", "due_at", "done_at")
VIEW_FIELDS = ("name", "query", "is_default")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Pending:
    """One unacknowledged outbox row."""

    id: int
    entity: str
    entity_id: str
    op: str
    payload: str
    base_version: int | None
    fields: str | None
    mid: int | None


def mutation(row: Pending, mid: int, current_phi: tuple[str | None, int | None] | None,
             base_version: int) -> dict[str, Any] | None:
    """The push mutation of `row` as mutation `mid` (None: not something the server
    takes, such as the local creation of a standalone tenant). `current_phi` is the
    deal's envelope and key version now; `base_version` the version to send for an op
    other than a create when the row recorded none."""
    data = json.loads(row.payload)
    names = None if row.fields is None else set(json.loads(row.fields))
    out: dict[str, Any] = {"mid": mid, "table": row.entity, "id": row.entity_id}
    base = row.base_version if row.base_version is not None else base_version
    if row.entity == "deals":
        return _deal(out, row.op, data, names, current_phi, base)
    if row.entity == "users":
        return _user(out, row.op, data, names, base)
    if row.entity == "deal_activities":
        return _activity(out, row.op, data, names, base)
    if row.entity == "saved_views":
        return _view(out, row.op, data, names, base)
    return None


def _view(out: dict[str, Any], op: str, data: dict[str, Any], names: set[str] | None,
          base: int) -> dict[str, Any] | None:
    """A saved view's mutation: a create carries the whole view and its owner, an update
    only the fields it changed (last writer wins), a delete nothing."""
    def value(key: str) -> Any:
        return int(bool(data[key])) if key == "is_default" else data[key]

    if op == "create":
        return {**out, "op": "create",
                "fields": {"user_id": data["user_id"], **{k: value(k) for k in VIEW_FIELDS}}}
    if op == "delete":
        return {**out, "op": "delete", "base_version": base, "fields": {}}
    chosen = set(VIEW_FIELDS) if names is None else names
    fields = {k: value(k) for k in VIEW_FIELDS if k in chosen}
    if not fields:
        return None
    return {**out, "op": "update", "base_version": base, "fields": fields}


def _activity(out: dict[str, Any], op: str, data: dict[str, Any], names: set[str] | None,
              base: int) -> dict[str, Any] | None:
    """A deal activity's mutation: a create carries the whole activity, an update only
    the fields it changed (the server writes them as they arrive: last writer wins)."""
    if op == "create":
        fields = {k: data[k] for k in ACTIVITY_FIELDS}
        fields["deal_id"] = data["deal_id"]
        return {**out, "op": "create", "fields": fields}
    if op == "delete":
        return {**out, "op": "delete", "base_version": base, "fields": {}}
    chosen = set(ACTIVITY_FIELDS) if names is None else names
    fields = {k: data[k] for k in ACTIVITY_FIELDS if k in chosen}
    if not fields:
        return None
    return {**out, "op": "update", "base_version": base, "fields": fields}


def _phi(current: tuple[str | None, int | None] | None, data: dict[str, Any]
         ) -> dict[str, Any]:
    envelope, version = current if current is not None else (data.get("phi"),
                                                               data.get("phi_key_version"))
    if envelope is None:
        return {"phi": None, "phi_key_version": None}
    return {"phi": envelope, "phi_key_version": version}


def _deal_fields(data: dict[str, Any], chosen: set[str] | None = None) -> dict[str, Any]:
    """The plain fields of a deal's payload (all, or those `chosen`). An outbox row from
    before issue 15 has no owner, close date or probability: its creator owns it."""
    defaults = {"owner_id": data.get("created_by_id"), "expected_close_date": None,
                "probability": None}
    return {k: data[k] if k in data else defaults[k] for k in DEAL_FIELDS
            if chosen is None or k in chosen}


def _deal(out: dict[str, Any], op: str, data: dict[str, Any], names: set[str] | None,
          current_phi: tuple[str | None, int | None] | None, base: int) -> dict[str, Any]:
    if op == "create":
        fields = _deal_fields(data)
        fields.update(_phi(current_phi, data))
        return {**out, "op": "create", "fields": fields}
    if op in ("delete", "restore"):
        return {**out, "op": op, "base_version": base, "fields": {}}
    chosen = set(DEAL_FIELDS) | {"phi"} if names is None else names
    fields = _deal_fields(data, chosen)
    if "phi" in chosen:
        fields.update(_phi(current_phi, data))
    if not fields:
        return {**out, "op": "update", "base_version": base,
                "fields": {"title": data["title"]}}
    return {**out, "op": "update", "base_version": base, "fields": fields}


def _user(out: dict[str, Any], op: str, data: dict[str, Any], names: set[str] | None,
          base: int) -> dict[str, Any] | None:
    if op == "create":
        fields = {k: data[k] for k in USER_FIELDS}
        fields["password"] = data["password"]
        return {**out, "op": "create", "fields": fields}
    names = set(USER_FIELDS) if names is None else names
    if "deactivated_at" in names:
        verb = "deactivate" if data.get("deactivated_at") else "reactivate"
        return {**out, "op": verb, "base_version": base, "fields": {}}
    if "password" in names:
        return {**out, "op": "set_password", "base_version": base,
                "fields": {"password": data["password"]}}
    fields = {k: data[k] for k in USER_FIELDS if k in names}
    if not fields:
        return None
    return {**out, "op": "update", "base_version": base, "fields": fields}
