"""Devices: enrol (the caller's laptop), approve (an admin's device, with the code the
new device shows), list, read, revoke."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ....core.domain.ids import CUID_RE
from ...audit.paging import MAX_LIMIT
from ...devices import enrolment, registry
from ...devices.grants import MAX_GRANTS
from ..deps import AdminCallerDep, CallerDep, DatabaseDep
from .keys import GrantBody, SigningKeyDep, decode, to_grants

router = APIRouter(prefix="/v1/devices", tags=["devices"])

ID_PATTERN = CUID_RE.pattern

DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]


class Enrol(BaseModel):
    device_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    sign_public_key: str = Field(max_length=64, description="Ed25519, raw, base64")
    kem_public_key: str = Field(max_length=64, description="X25519, raw, base64")


class Approve(BaseModel):
    code: str = Field(min_length=1, max_length=16)
    # Empty only for a tenant's first device (enrolment.approve).
    grants: list[GrantBody] = Field(default_factory=list, max_length=MAX_GRANTS)


class Revoke(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


@router.post("", status_code=201)
def enrol(body: Enrol, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    """Enrol this laptop for the signed-in user (or restart its pending enrolment). The
    answer's approval code is shown on this laptop's screen for the admin; it is not
    kept by the server and not shown again."""
    sign = decode(body.sign_public_key, "sign_public_key")
    kem = decode(body.kem_public_key, "kem_public_key")
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return enrolment.enrol(conn, who, body.device_id, body.name, sign, kem)


@router.get("")
def list_devices(who: CallerDep, db: DatabaseDep,
                 user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                 status: Literal["PENDING", "ACTIVE", "REVOKED"] | None = None,
                 cursor: Annotated[str | None, Query(max_length=200)] = None,
                 limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None
                 ) -> dict[str, Any]:
    """A page of devices: the tenant's for an admin, the caller's own for a user."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return registry.list_devices(conn, who, user_id=user_id, status=status,
                                     cursor=cursor, limit=limit)


@router.get("/{device_id}")
def get_device(device_id: DeviceId, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    """One device (an admin: any of the tenant; a user: their own)."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return registry.get_device(conn, who, device_id)


@router.post("/{device_id}/approve")
def approve(device_id: DeviceId, body: Approve, who: AdminCallerDep,
            db: DatabaseDep) -> dict[str, Any]:
    """Approve a pending device from an admin's active device: the code the new device
    shows, and the PHI key grants wrapped for it. A wrong code is counted (403 with
    attempts_left); past the limit the new device must enrol again."""
    items = to_grants(body.grants)
    with db.transaction(who.tenant_id, who.user_id) as conn:
        outcome = enrolment.approve(conn, who, device_id, body.code, items)
    return outcome.result()  # a refusal is raised after its attempt was committed


@router.post("/{device_id}/revoke")
def revoke(device_id: DeviceId, body: Revoke, who: CallerDep, db: DatabaseDep,
           key: SigningKeyDep) -> dict[str, Any]:
    """Revoke a device (an admin; or a user their own): its sessions and grants end at
    once; the answer is the signed wipe order the device receives at its next call."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return {"wipe_order": registry.revoke(conn, who, key, device_id, body.reason)}
