"""Key grants and PHI key versions (SYNC.md, "Keys").

A grant is one PHI key version wrapped (HPKE, by an admin's device) for one grantee: a
device, a user, or the server's escrow key. The server stores and hands out wrapped keys
only: it never sees a PHI key here. A device fetches the live grants meant for it (its
own id, or its user); an admin's device posts grants; revoking a device revokes its
grants (registry.revoke). Rotating the PHI key is online-only compare-and-swap: the
caller names the version it believes active, and the new version arrives with its
grants in the same transaction, so no version exists that nobody can open.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.domain.clock import iso
from ...core.domain.ids import is_id, new_id
from ..audit import events
from ..caller import Caller
from ..db.pool import Connection
from ..errors import bad_request, conflict
from ..events import record_event
from . import shares
from .registry import ACTIVE, active_device, begin_write

GRANTEE_KINDS = ("DEVICE", "USER", "SERVER")
MAX_GRANTS = 100
WRAPPED_MIN, WRAPPED_MAX = 48, 512  # the table's CHECK; an HPKE grant is 80 bytes
SERVER_KEY_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # keys.escrow.key_id


@dataclass(frozen=True)
class GrantIn:
    """A grant as an admin's device posts it."""

    key_version: int
    grantee_kind: str
    grantee_id: str
    wrapped: bytes


def my_grants(conn: Connection, caller: Caller) -> list[dict[str, Any]]:
    """The live grants meant for the caller's (ACTIVE) device: those made for the device
    itself and those made for its user, with each key version's state."""
    device_id, _ = active_device(conn, caller)
    rows = conn.execute(
        "SELECT g.id, g.key_version, k.state, g.grantee_kind, g.grantee_id, g.wrapped, "
        "g.created_at FROM key_grants g JOIN phi_keys k ON k.tenant_id = g.tenant_id AND "
        "k.version = g.key_version WHERE g.tenant_id = %s AND g.revoked_at IS NULL AND "
        "((g.grantee_kind = 'DEVICE' AND g.grantee_id = %s) OR "
        "(g.grantee_kind = 'USER' AND g.grantee_id = %s)) ORDER BY g.key_version, g.id",
        (caller.tenant_id, device_id, caller.user_id)).fetchall()
    return [{"id": r[0], "key_version": r[1], "key_state": r[2], "grantee_kind": r[3],
             "grantee_id": r[4], "wrapped": base64.b64encode(bytes(r[5])).decode("ascii"),
             "created_at": iso(r[6])} for r in rows]


def key_versions(conn: Connection, caller: Caller) -> list[dict[str, Any]]:
    """The tenant's PHI key versions and their states (no key material)."""
    rows = conn.execute("SELECT version, state, created_at, retired_at FROM phi_keys "
                        "WHERE tenant_id = %s ORDER BY version", (caller.tenant_id,)).fetchall()
    return [{"version": r[0], "state": r[1], "created_at": iso(r[2]),
             "retired_at": None if r[3] is None else iso(r[3])} for r in rows]


def post_grants(conn: Connection, caller: Caller, grants: Sequence[GrantIn]
                ) -> dict[str, Any]:
    """An admin's device adds grants; returns their ids."""
    caller.require_admin()
    begin_write(conn, caller)
    active_device(conn, caller)
    ids = insert_grants(conn, caller, grants)
    return {"grant_ids": ids}


def insert_grants(conn: Connection, caller: Caller, grants: Sequence[GrantIn], *,
                  pending_device: str | None = None,
                  new_version: int | None = None) -> list[str]:
    """Check and store grants (the caller has been checked as an admin on an active
    device). `pending_device` may be a grantee though not yet ACTIVE (its approval);
    `new_version` limits the grants to that version (a rotation). Refuses the whole
    list on the first bad grant; writes a KEY_GRANTED event."""
    if not grants:
        raise bad_request("grants_required", "Give at least one key grant.")
    if len(grants) > MAX_GRANTS:
        raise bad_request("too_many_grants", f"Give at most {MAX_GRANTS} grants at once.")
    states: dict[int, str] = dict(conn.execute(
        "SELECT version, state FROM phi_keys WHERE tenant_id = %s", (caller.tenant_id,)
    ).fetchall())
    seen: set[tuple[int, str, str]] = set()
    for i, g in enumerate(grants):
        _check_grant(conn, caller, i, g, states, pending_device, new_version)
        key = (g.key_version, g.grantee_kind, g.grantee_id)
        if key in seen:
            raise bad_request("duplicate_grant", f"Grant {i + 1} repeats an earlier grant "
                              "of the same key version to the same grantee.", index=i)
        seen.add(key)
    live = conn.execute(
        "SELECT key_version, grantee_kind, grantee_id FROM key_grants WHERE tenant_id = %s "
        "AND revoked_at IS NULL AND (key_version, grantee_kind::text, grantee_id) IN "
        "(SELECT * FROM unnest(%s::int[], %s::text[], %s::text[]))",
        (caller.tenant_id, [k[0] for k in seen], [k[1] for k in seen],
         [k[2] for k in seen])).fetchall()
    if live:
        v, kind, who = live[0]
        raise conflict("grant_exists", f"Key version {v} is already granted to that "
                       f"{kind.lower()}; nothing was stored.", key_version=v,
                       grantee_kind=kind, grantee_id=who)
    ids = [new_id() for _ in grants]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, grantee_id, "
            "wrapped, granted_by_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(caller.tenant_id, gid, g.key_version, g.grantee_kind, g.grantee_id, g.wrapped,
              caller.user_id) for gid, g in zip(ids, grants, strict=True)])
    record_event(conn, events.KEY_GRANTED, caller.user_id, grants=[
        {"id": gid, "key_version": g.key_version, "grantee_kind": g.grantee_kind,
         "grantee_id": g.grantee_id} for gid, g in zip(ids, grants, strict=True)])
    return ids


def _check_grant(conn: Connection, caller: Caller, i: int, g: GrantIn,
                 states: dict[int, str], pending_device: str | None,
                 new_version: int | None) -> None:
    where = f"Grant {i + 1}"
    if new_version is not None and g.key_version != new_version:
        raise bad_request("invalid_grant", f"{where} is for key version {g.key_version}; "
                          f"this rotation grants only version {new_version}.", index=i)
    state = states.get(g.key_version)
    if state is None or state == "RETIRED":
        raise bad_request("invalid_grant", f"{where}: key version {g.key_version} does not "
                          "exist or is retired.", index=i)
    if not WRAPPED_MIN <= len(g.wrapped) <= WRAPPED_MAX:
        raise bad_request("invalid_grant", f"{where}: a wrapped key is {WRAPPED_MIN} to "
                          f"{WRAPPED_MAX} bytes.", index=i)
    if g.grantee_kind == "DEVICE":
        row = conn.execute("SELECT status FROM devices WHERE tenant_id = %s AND id = %s",
                           (caller.tenant_id, g.grantee_id)).fetchone() \
            if is_id(g.grantee_id) else None
        if row is None or (row[0] != ACTIVE and g.grantee_id != pending_device):
            raise bad_request("invalid_grant", f"{where}: no approved device with that id "
                              "in your organisation.", index=i)
    elif g.grantee_kind == "USER":
        row = conn.execute("SELECT 1 FROM users WHERE tenant_id = %s AND id = %s AND "
                           "deactivated_at IS NULL", (caller.tenant_id, g.grantee_id)
                           ).fetchone() if is_id(g.grantee_id) else None
        if row is None:
            raise bad_request("invalid_grant", f"{where}: no active user with that id in "
                              "your organisation.", index=i)
    elif g.grantee_kind == "SERVER":
        if not SERVER_KEY_ID_RE.match(g.grantee_id):
            raise bad_request("invalid_grant", f"{where}: a server grantee is the escrow "
                              "key's id (32 hexadecimal digits).", index=i)
    else:
        raise bad_request("invalid_grant", f"{where}: grantee_kind must be one of "
                          f"{', '.join(GRANTEE_KINDS)}.", index=i)


def rotate_key(conn: Connection, caller: Caller, expected_active: int,
               grants: Sequence[GrantIn]) -> dict[str, Any]:
    """Make a new PHI key version (admin, online only): refused unless `expected_active`
    is the active version now (0: the tenant has none yet, and this makes version 1);
    the old version becomes DECRYPT_ONLY; `grants` are the new version's (made by the
    admin's device, which made the key), and must reach every approved device and the
    escrow key the tenant keeps (409 grantees_changed otherwise)."""
    caller.require_admin()
    # The tenant's write lock: two rotations cannot both see the same active version.
    begin_write(conn, caller)
    active_device(conn, caller)
    rows = conn.execute("SELECT version, state FROM phi_keys WHERE tenant_id = %s "
                        "ORDER BY version", (caller.tenant_id,)).fetchall()
    active = next((v for v, s in rows if s == "ACTIVE"), 0)
    if active != expected_active:
        raise conflict("key_version_changed", "The active key version is not the one you "
                       "expected; fetch the key versions and try again.",
                       active_version=active)
    new = max((v for v, _ in rows), default=0) + 1
    if active:
        conn.execute("UPDATE phi_keys SET state = 'DECRYPT_ONLY' WHERE tenant_id = %s AND "
                     "version = %s", (caller.tenant_id, active))
    conn.execute("INSERT INTO phi_keys (tenant_id, version, state) VALUES (%s, %s, 'ACTIVE')",
                 (caller.tenant_id, new))
    ids = insert_grants(conn, caller, grants, new_version=new)
    # Under the tenant's write lock: no device is approved between this check and commit;
    # a refusal rolls the whole transaction back.
    shares.check_complete(conn, caller, active,
                          {(g.grantee_kind, g.grantee_id) for g in grants})
    record_event(conn, events.KEY_ROTATED, caller.user_id, previous_version=active,
                 version=new, grants=len(ids))
    return {"version": new, "previous_version": active, "grant_ids": ids}
