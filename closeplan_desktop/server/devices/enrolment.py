"""Enrolling a device and approving it with the code it shows (SYNC.md, "Keys").

A signed-in user's laptop enrols with its device id (made on the laptop: its audit
chains carry it), its Ed25519 signing key and its X25519 key for HPKE grants. The
device is PENDING and gets a 6-digit approval code, returned once, for its screen; the
server keeps only a hash bound to the tenant, device and signing key. An admin's device
approves it by sending that code and the key grants it wrapped for the new device.

Wrong codes are counted (DEVICE_APPROVAL_FAILED events since the enrolment began, the
tenant's write lock held meanwhile); after MAX_ATTEMPTS the code is void and the laptop must
enrol again, which makes a new code and starts a new count. A wrong code is refused
*after* its failure is committed, so `approve` returns an `Outcome` rather than raising.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from ...core.domain import validation
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from ..audit import events
from ..caller import Caller
from ..db.pool import Connection
from ..errors import ApiError, bad_request, conflict, forbidden, not_found
from ..events import record_event
from . import registry
from .grants import GrantIn, insert_grants

CODE_DIGITS = 6
MAX_ATTEMPTS = 5
MAX_PENDING = 5  # enrolments waiting for approval, per user
KEY_BYTES = 32


def new_code() -> str:
    """A fresh approval code: CODE_DIGITS random decimal digits."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(tenant_id: str, device_id: str, sign_public_key: bytes, code: str) -> bytes:
    """The stored form of an approval code: bound to the tenant, device and signing key,
    so a code approves exactly the keys the new device showed."""
    return hashlib.sha256(b"closeplan/approval-code/v1|" + tenant_id.encode() + b"|"
                          + device_id.encode() + b"|" + sign_public_key + b"|"
                          + code.encode()).digest()


def _check_pending(conn: Connection, caller: Caller) -> None:
    row = conn.execute("SELECT count(*) FROM devices WHERE tenant_id = %s AND user_id = %s "
                       "AND status = 'PENDING'", (caller.tenant_id, caller.user_id)).fetchone()
    if row is not None and row[0] >= MAX_PENDING:
        raise conflict("too_many_pending", f"You have {MAX_PENDING} devices waiting for "
                       "approval: have an admin approve them, or revoke those you no "
                       "longer use, then enrol again.")


def _check_keys(sign_public_key: bytes, kem_public_key: bytes) -> None:
    for name, raw, kind in (("sign_public_key", sign_public_key, Ed25519PublicKey),
                            ("kem_public_key", kem_public_key, X25519PublicKey)):
        if len(raw) != KEY_BYTES:
            raise bad_request("invalid_key", f"{name} must be a raw {KEY_BYTES}-byte public "
                              "key.", field=name)
        try:
            kind.from_public_bytes(raw)
        except ValueError:
            raise bad_request("invalid_key", f"{name} is not a valid public key.",
                              field=name) from None


def enrol(conn: Connection, caller: Caller, device_id: str, name: str,
          sign_public_key: bytes, kem_public_key: bytes) -> dict[str, Any]:
    """Enrol the caller's laptop (or restart its pending enrolment with new keys and a
    new code). Returns the device id, its status and the approval code (shown once)."""
    if not is_id(device_id):
        raise bad_request("invalid_device_id", "device_id must be an id made by ClosePlan "
                          "(25 lowercase letters and digits, starting with c).")
    try:
        clean_name = validation.text(name, "Device name", max_len=validation.MAX_NAME)
    except ValidationError as e:
        raise bad_request("invalid_name", str(e)) from None
    _check_keys(sign_public_key, kem_public_key)
    registry.begin_write(conn, caller)
    row = conn.execute("SELECT user_id, status FROM devices WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, device_id)).fetchone()
    code = new_code()
    digest = code_hash(caller.tenant_id, device_id, sign_public_key, code)
    if row is None:
        _check_pending(conn, caller)
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status, "
                     "sign_public_key, kem_public_key, approval_code_hash, last_seen_at) "
                     "VALUES (%s, %s, %s, %s, 'PENDING', %s, %s, %s, now())",
                     (caller.tenant_id, device_id, caller.user_id, clean_name,
                      sign_public_key, kem_public_key, digest))
    elif row[0] == caller.user_id and row[1] == registry.PENDING:
        # A restart: new keys, a new code, and (created_at) a new count of attempts.
        conn.execute("UPDATE devices SET name = %s, sign_public_key = %s, kem_public_key = %s, "
                     "approval_code_hash = %s, created_at = now(), last_seen_at = now() "
                     "WHERE tenant_id = %s AND id = %s",
                     (clean_name, sign_public_key, kem_public_key, digest, caller.tenant_id,
                      device_id))
    else:
        raise conflict("device_id_taken", "This device id is already enrolled; a copied or "
                       "revoked workspace must enrol with a new device id.")
    record_event(conn, events.DEVICE_ENROLLED, caller.user_id, device_id=device_id,
                 restart=row is not None)
    return {"device_id": device_id, "status": registry.PENDING, "approval_code": code,
            "max_attempts": MAX_ATTEMPTS}


@dataclass(frozen=True)
class Outcome:
    """What `approve` did: the approved device, or a refusal whose record (the counted
    attempt) must be committed before it is raised."""

    device: dict[str, Any] | None = None
    refusal: ApiError | None = None

    def result(self) -> dict[str, Any]:
        """The approved device; raises the refusal (call after the commit)."""
        if self.refusal is not None:
            raise self.refusal
        assert self.device is not None
        return self.device


def approve(conn: Connection, caller: Caller, device_id: str, code: str,
            grants: Sequence[GrantIn]) -> Outcome:
    """An admin's (active) device approves a pending device with the code it shows and
    the key grants wrapped for it. Bad grants raise (nothing written); a wrong code is
    counted and refused through the Outcome.

    The tenant's first device: while no device of the tenant has ever been approved, an
    admin approves their own first device from any session, with its code and with or
    without grants (a new tenant has no PHI key yet; that device makes version 1 with
    grants.rotate_key(expected_active=0)). Once any device was approved this way is
    closed for good: a lost last admin device is an operator's matter."""
    caller.require_admin()
    registry.begin_write(conn, caller)
    row = conn.execute("SELECT status, sign_public_key, approval_code_hash, created_at, "
                       "user_id FROM devices WHERE tenant_id = %s AND id = %s",
                       (caller.tenant_id, device_id)).fetchone() if is_id(device_id) else None
    if row is None:
        raise not_found("device_not_found", "No such device in your organisation.")
    status, sign_key, stored, began, owner = row
    first = owner == caller.user_id and _no_device_approved_yet(conn, caller)
    if not first:
        registry.active_device(conn, caller)
    if status != registry.PENDING:
        raise conflict("device_not_pending", f"This device is {status.lower()}, not waiting "
                       "for approval.")
    if stored is None:
        raise conflict("enrolment_restart_required", "Too many wrong codes: on the new "
                       "device, start the enrolment again to get a new code.")
    given = code.strip() if isinstance(code, str) else ""
    if not hmac.compare_digest(code_hash(caller.tenant_id, device_id, bytes(sign_key), given),
                               bytes(stored)):
        return Outcome(refusal=_wrong_code(conn, caller, device_id, began))
    for g in grants:
        if g.grantee_kind != "DEVICE" or g.grantee_id != device_id:
            raise bad_request("invalid_grant", "An approval carries only grants for the "
                              "device being approved; post other grants separately.")
    ids = (insert_grants(conn, caller, grants, pending_device=device_id)
           if grants or not first else [])
    active = conn.execute("SELECT version FROM phi_keys WHERE tenant_id = %s AND "
                          "state = 'ACTIVE'", (caller.tenant_id,)).fetchone()
    if grants and active is not None and active[0] not in {g.key_version for g in grants}:
        # After the grants' own checks (their 400s), rolled back with them: without the
        # active key the device could open old PHI but never seal new PHI.
        raise conflict("active_key_missing", "The approval lacks the organisation's "
                       "current PHI key (it was rotated since the approving laptop last "
                       "synced): sync that laptop, then approve again.")
    conn.execute("UPDATE devices SET status = 'ACTIVE', approval_code_hash = NULL, "
                 "approved_by_id = %s, approved_at = now() WHERE tenant_id = %s AND id = %s",
                 (caller.user_id, caller.tenant_id, device_id))
    record_event(conn, events.DEVICE_APPROVED, caller.user_id, device_id=device_id,
                 grants=len(ids), first_device=first)
    return Outcome(device=registry.get_device(conn, caller, device_id))


def _no_device_approved_yet(conn: Connection, caller: Caller) -> bool:
    row = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM devices WHERE tenant_id = %s AND "
                       "approved_at IS NOT NULL)", (caller.tenant_id,)).fetchone()
    return bool(row and row[0])


def _wrong_code(conn: Connection, caller: Caller, device_id: str, began: Any) -> ApiError:
    record_event(conn, events.DEVICE_APPROVAL_FAILED, caller.user_id, device_id=device_id)
    row = conn.execute(
        'SELECT count(*) FROM security_events WHERE tenant_id = %s AND "timestamp" >= %s '
        "AND type = %s AND device_id IS NULL AND detail LIKE %s",
        (caller.tenant_id, began, events.DEVICE_APPROVAL_FAILED,
         events.device_pattern(device_id))).fetchone()
    failed = int(row[0]) if row else MAX_ATTEMPTS
    if failed >= MAX_ATTEMPTS:
        conn.execute("UPDATE devices SET approval_code_hash = NULL WHERE tenant_id = %s AND "
                     "id = %s", (caller.tenant_id, device_id))
        record_event(conn, events.DEVICE_ENROLMENT_LOCKED, caller.user_id,
                     device_id=device_id)
        return forbidden("enrolment_restart_required", "Wrong code, and too many wrong "
                         "codes: on the new device, start the enrolment again to get a "
                         "new code.", attempts_left=0)
    return forbidden("wrong_approval_code", "That is not the code the new device shows; "
                     "check it and try again.", attempts_left=MAX_ATTEMPTS - failed)
