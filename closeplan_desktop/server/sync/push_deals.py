"""Pushed deal mutations: create, update, delete, restore (SYNC.md, Conflicts: deals).

The server trusts no client: values pass `core.domain.validation` and `money` again, PHI
is checked for the envelope's shape and a key version the tenant has (never opened),
the deal's owner (issue 15: not its creator) or an admin may change it, an owner must be
an active user of the tenant, a deal of another tenant answers as missing. Per field
last writer wins in arrival order; the overwritten value is kept in `conflicts`; delete
beats a concurrent edit (the edit is not applied, kept as a conflict). Every write also
writes the seed's access-log row, as the desktop does.
"""

from __future__ import annotations

import binascii
import json
import re
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from ...core.domain import money, validation
from ...core.domain.enums import AccessAction
from ...core.domain.enums import SecurityEventType as Ev
from ...core.domain.errors import CryptoError, ValidationError
from ...core.domain.ids import is_id
from ...core.security import crypto
from .merge import Assignment, Merge, Row, merge, versions_of, write_merge
from .mutations import Mutation
from .outcome import CONFLICT, Context, Rejected, Verdict

# Logical fields and their columns (PHI is one field: envelope and key version).
GROUPS = {"title": ("title",), "status": ("status",), "value": ("value",),
          "phi": ("phi", "phi_key_version"), "created_by_id": ("created_by_id",),
          "deleted_at": ("deleted_at",), "owner_id": ("owner_id",),
          "expected_close_date": ("expected_close_date",), "probability": ("probability",)}
# Money as the outbox carries it: exact text with two places, within numeric(16, 2).
MONEY_RE = re.compile(r"[0-9]{1,14}\.[0-9]{2}")
NONCE_BYTES = 12
TAG_BYTES = 16

Phi = tuple[str | None, int | None]


def _money(value: Any) -> Decimal:
    if not isinstance(value, str) or not MONEY_RE.fullmatch(value):
        raise ValidationError("Value must be exact text with two decimal places, such as "
                              "1250.00.")
    return money.parse(value)


def check_envelope(envelope: str, key_version: int) -> None:
    """The desktop's PHI envelope (`core.security.crypto`), checked for shape only: the
    server never opens it here. CryptoError when it is not one, or names another key."""
    try:
        data = json.loads(envelope)
        if not isinstance(data, dict) or set(data) != {"v", "k", "n", "c"}:
            raise ValueError
        nonce = binascii.a2b_base64(data["n"].encode("ascii"), strict_mode=True)
        sealed = binascii.a2b_base64(data["c"].encode("ascii"), strict_mode=True)
        if len(nonce) != NONCE_BYTES or len(sealed) < TAG_BYTES:
            raise ValueError
    except (ValueError, TypeError, AttributeError, RecursionError, UnicodeEncodeError):
        raise CryptoError("The PHI is not a ClosePlan envelope.") from None
    if crypto.envelope_version(envelope) != key_version:
        raise CryptoError("The PHI envelope names another key version than phi_key_version.")


def _phi(ctx: Context, envelope: Any, key_version: Any) -> Phi:
    if envelope is None:
        if key_version is not None:
            raise Rejected("invalid", "A deal without PHI has no key version: send "
                                      "phi_key_version null with phi null.")
        return None, None
    if not isinstance(key_version, int):
        raise Rejected("invalid", "PHI needs the key version it was sealed with.")
    try:
        check_envelope(envelope, key_version)
    except CryptoError as exc:
        raise Rejected("invalid_phi", f"{exc} Seal the PHI again with the app.") from None
    state = ctx.phi_key_state(key_version)
    if state is None:
        raise Rejected("phi_key_unknown", f"The PHI is sealed with key version {key_version}, "
                       "which this organisation does not have; sync the keys and save the "
                       "deal again.")
    if state == "RETIRED":
        raise Rejected("phi_key_retired", f"The PHI is sealed with key version {key_version}, "
                       "which is retired; save the deal again to seal it with the active key.")
    return envelope, key_version


def clean_fields(ctx: Context, fields: dict[str, Any],
                 current_owner: str | None = None) -> dict[str, Any]:
    """The pushed fields, checked by the desktop's own rules, per logical field. An owner
    equal to the deal's `current_owner` is kept as it is (an edit of a deal whose owner
    was deactivated meanwhile must not be refused for a field it did not change)."""
    out: dict[str, Any] = {}
    try:
        if "title" in fields:
            out["title"] = validation.title(fields["title"])
        if "status" in fields:
            out["status"] = validation.status(fields["status"]).value
        if "value" in fields:
            out["value"] = _money(fields["value"])
        if "expected_close_date" in fields:
            out["expected_close_date"] = validation.close_date(fields["expected_close_date"])
        if "probability" in fields:
            out["probability"] = validation.probability(fields["probability"])
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None
    if "owner_id" in fields and current_owner is not None \
            and fields["owner_id"] == current_owner:
        out["owner_id"] = current_owner
    elif "owner_id" in fields:
        try:
            out["owner_id"] = validation.owner(fields["owner_id"], ctx.user_state)
        except ValidationError as exc:
            raise Rejected("invalid_owner", str(exc)) from None
    if "phi" in fields:
        out["phi"] = _phi(ctx, fields["phi"], fields["phi_key_version"])
    return out


def as_json(field: str, value: Any) -> Any:
    """A field's value as `conflicts` keeps it."""
    if field == "phi":
        envelope, version = value
        return None if envelope is None else {"phi": envelope, "phi_key_version": version}
    if field == "value":
        return money.to_text(value)
    if field == "deleted_at":
        return {"deleted": bool(value)}
    if field == "expected_close_date":
        return None if value is None else value.isoformat()
    return value


def _denied(deal_id: str, action: AccessAction) -> Rejected:
    """Missing and other-tenant deals answer alike (the desktop's rule), logged."""
    shown = deal_id if is_id(deal_id) else "(not an id)"

    def audit(ctx: Context) -> None:
        ctx.log_event(Ev.ACCESS_DENIED.value, {"action": action.value, "deal": shown})

    return Rejected("not_found", "No such deal in your workspace.", audit)


# A deal as merge sees it (row_of), locked for the push; and several of them, by id.
_COLUMNS = ("title, status::text, value, phi::text, phi_key_version, created_by_id, "
            "deleted_at IS NOT NULL, row_version, field_versions, field_devices, owner_id, "
            "expected_close_date, probability")
SELECT_ROW = (f"SELECT {_COLUMNS} FROM deals "  # noqa: S608 (constant columns)
              "WHERE tenant_id = %s AND id = %s FOR UPDATE")
SELECT_ROWS = (f"SELECT id, {_COLUMNS} FROM deals "  # noqa: S608 (constant columns)
               "WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE")


def row_of(found: tuple[Any, ...]) -> Row:
    """A Row from the columns SELECT_ROW reads."""
    (title, status, value, phi, key_version, created_by, deleted, row_version, versions,
     devices, owner, close, chance) = found
    values = {"title": title, "status": status, "value": value, "phi": (phi, key_version),
              "created_by_id": created_by, "deleted_at": deleted, "owner_id": owner,
              "expected_close_date": close, "probability": chance}
    return Row(values, versions_of(versions, GROUPS), devices, row_version)


def owned(ctx: Context, deal_id: str, row: Row | None, action: AccessAction) -> Row:
    """`row` if the pusher may change it; a refusal (logged) when it is missing or not
    theirs."""
    if row is None:
        raise _denied(deal_id, action)
    if not ctx.is_admin and row.values["owner_id"] != ctx.user_id:
        raise Rejected("forbidden", "Only the deal's owner or an administrator can change it.",
                       lambda c: c.log_access(deal_id, action, success=False))
    return row


def load(ctx: Context, deal_id: str, action: AccessAction) -> Row:
    """The deal, locked for this push, if the pusher may change it."""
    found = None
    if is_id(deal_id):
        found = ctx.conn.execute(SELECT_ROW, (ctx.tenant_id, deal_id)).fetchone()
    return owned(ctx, deal_id, None if found is None else row_of(found), action)


def _assignments(changed: dict[str, Any]) -> list[Assignment]:
    out: list[Assignment] = []
    for name, value in changed.items():
        if name == "deleted_at":
            out.append(("deleted_at", "now()" if value else "NULL", ()))
        elif name == "phi":
            out += [("phi", "%s::json", (value[0],)), ("phi_key_version", "%s", (value[1],))]
        elif name == "expected_close_date":
            out.append((name, "%s::date", (value,)))
        else:
            out.append((name, "%s::deal_status" if name == "status" else "%s", (value,)))
    return out


def _write(ctx: Context, m: Mutation, row: Row, result: Merge) -> Verdict:
    return write_merge(ctx, "deals", m, row, result, _assignments(result.changed), as_json)


def create(ctx: Context, m: Mutation) -> Verdict:
    """A new deal of the pusher (its creator, whatever the device says), owned by the
    pushed owner (an active user of the tenant) or else the pusher."""
    if not is_id(m.id):
        raise Rejected("invalid_id", "A new deal's id must be an id made by the app.")
    clean = clean_fields(ctx, m.fields)
    envelope, key_version = clean.get("phi", (None, None))
    ctx.conn.execute(
        "INSERT INTO deals (tenant_id, id, title, status, value, phi, phi_key_version, "
        "created_by_id, field_devices, owner_id, expected_close_date, probability) "
        "VALUES (%s, %s, %s, %s::deal_status, %s, %s::json, %s, %s, %s, %s, %s, %s)",
        (ctx.tenant_id, m.id, clean["title"], clean["status"], clean["value"], envelope,
         key_version, ctx.user_id, Jsonb(dict.fromkeys(GROUPS, ctx.device_id)),
         clean.get("owner_id", ctx.user_id), clean.get("expected_close_date"),
         clean.get("probability")))
    ctx.log_access(m.id, AccessAction.DEAL_CREATE)
    return Verdict(m.mid, "applied", row_version=ctx.version)


def update(ctx: Context, m: Mutation) -> Verdict:
    """Changed fields of a live deal; an edit that raced a delete is kept, not applied."""
    row = load(ctx, m.id, AccessAction.DEAL_UPDATE)
    clean = clean_fields(ctx, m.fields, row.values["owner_id"])
    base = m.base_version or 0
    if row.values["deleted_at"]:
        if not row.changed_by_others("deleted_at", base, ctx.device_id):
            raise Rejected("deal_deleted", "This deal is deleted; restore it before editing.")
        # Delete beats a concurrent edit: the edit is kept, flagged, and not applied.
        for name, value in clean.items():
            ctx.record_conflict("deals", m.id, name, m.mid, m.base_version,
                                row.versions["deleted_at"], as_json(name, row.values[name]),
                                as_json(name, value))
        return Verdict(m.mid, CONFLICT, "deal_deleted",
                       "The deal was deleted while you edited it; your edit was not applied "
                       "and is kept for review.", row.row_version)
    verdict = _write(ctx, m, row, merge(row, clean, base, ctx.device_id))
    ctx.log_access(m.id, AccessAction.DEAL_UPDATE)
    return verdict


def _set_deleted(ctx: Context, m: Mutation, deleted: bool, action: AccessAction) -> Verdict:
    row = load(ctx, m.id, action)
    result = merge(row, {"deleted_at": deleted}, m.base_version or 0, ctx.device_id)
    verdict = _write(ctx, m, row, result)
    if result.changed:
        ctx.log_access(m.id, action)
    return verdict


def delete(ctx: Context, m: Mutation) -> Verdict:
    """A tombstone (it beats concurrent edits, which stay on the row)."""
    return _set_deleted(ctx, m, True, AccessAction.DEAL_DELETE)


def restore(ctx: Context, m: Mutation) -> Verdict:
    """Bring a deleted deal back (logged as an update, as the desktop does)."""
    return _set_deleted(ctx, m, False, AccessAction.DEAL_UPDATE)
