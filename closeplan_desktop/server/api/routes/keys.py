"""The server's public signing key, key grants and PHI key versions.

`GET /v1/server/keys` is public: the desktop pins the signing key at enrolment and
checks receipts and wipe orders with it. Grants carry wrapped keys in base64.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ...devices import grants, shares
from ...errors import ApiError, bad_request
from ...keys.signing import SigningKey
from ..deps import AdminCallerDep, CallerDep, DatabaseDep, DeviceCallerDep

router = APIRouter(tags=["keys"])

MAX_VERSION = 2**31 - 1


def signing_key(request: Request) -> SigningKey:
    """The server's signing key (loaded by create_app from config.signing_key_file)."""
    key: SigningKey | None = getattr(request.app.state, "signing_key", None)
    if key is None:
        raise ApiError(503, "signing_key_missing", "This server has no signing key "
                       "configured; its operator must set one (signing_key_file).")
    return key


SigningKeyDep = Annotated[SigningKey, Depends(signing_key)]


def decode(value: str, field: str) -> bytes:
    """Base64 (standard alphabet, padded) to bytes, or a 400 naming the field."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("invalid_base64", f"{field} must be base64 (standard alphabet).",
                          field=field) from None


class GrantBody(BaseModel):
    key_version: int = Field(ge=1, le=MAX_VERSION)
    grantee_kind: Literal["DEVICE", "USER", "SERVER"]
    grantee_id: str = Field(min_length=1, max_length=64)
    wrapped: str = Field(min_length=1, max_length=1024, description="base64")

    def grant(self, index: int) -> grants.GrantIn:
        """The service's grant (the wrapped key decoded; `index` names it in errors)."""
        return grants.GrantIn(self.key_version, self.grantee_kind, self.grantee_id,
                              decode(self.wrapped, f"grants.{index}.wrapped"))


def to_grants(bodies: list[GrantBody]) -> list[grants.GrantIn]:
    """The service's grants of a request's list."""
    return [b.grant(i) for i, b in enumerate(bodies)]


class PostGrants(BaseModel):
    grants: list[GrantBody] = Field(min_length=1, max_length=grants.MAX_GRANTS)


class Rotate(BaseModel):
    expected_active: int = Field(ge=0, le=MAX_VERSION, description="0: no key yet")
    grants: list[GrantBody] = Field(min_length=1, max_length=grants.MAX_GRANTS)


@router.get("/v1/server/keys")
def server_keys(key: SigningKeyDep) -> dict[str, Any]:
    """The server's public signing key (Ed25519) and its id: pin it at enrolment."""
    return {"keys": [key.published()]}


@router.get("/v1/keys/grants")
def my_grants(who: DeviceCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """The live key grants meant for this device (its own and its user's)."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return {"grants": grants.my_grants(conn, who)}


@router.get("/v1/keys/versions")
def key_versions(who: DeviceCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """The tenant's PHI key versions and their states."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return {"versions": grants.key_versions(conn, who)}


class DeviceUnlock(BaseModel):
    device_id: str = Field(min_length=1, max_length=64)


@router.get("/v1/keys/grantees")
def grantees(who: AdminCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """What a rotation wraps the new PHI key version for (an admin on an approved
    device): the active version, every approved device's X25519 key, and the escrow key
    when the tenant keeps an escrow grant."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return shares.grantees(conn, who)


@router.post("/v1/keys/device-unlock")
def device_unlock(body: DeviceUnlock, who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    """The server's half of a device's sealing key, and the device's grants: only for
    a session opened with a password (no device), of a user of the device's tenant."""
    device_id = shares.check_device_id(body.device_id)
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return shares.device_unlock(conn, who, device_id)


@router.post("/v1/keys/grants", status_code=201)
def post_grants(body: PostGrants, who: AdminCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """An admin's device stores grants it wrapped (for a device, a user or the escrow
    key); all or none."""
    items = to_grants(body.grants)
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return grants.post_grants(conn, who, items)


@router.post("/v1/keys/rotate", status_code=201)
def rotate(body: Rotate, who: AdminCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """A new PHI key version if `expected_active` is still the active one (409 with the
    active version otherwise), with its grants."""
    items = to_grants(body.grants)
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return grants.rotate_key(conn, who, body.expected_active, items)
