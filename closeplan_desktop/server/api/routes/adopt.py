"""Creating a tenant from an existing standalone workspace (`server.adopt`).

`POST /v1/setup/adopt` takes a setup code with the authority `first-tenant` and
`create-tenant` have: the code `closeplan-server dev` printed (once, as first-tenant),
or a one-time code an operator issued with `closeplan-server setup-code`. Then that
admin's approved device uploads the deals (`POST /v1/adopt/deals`) and closes the import
(`POST /v1/adopt/finish`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ... import adopt
from ...errors import ApiError
from ..deps import DatabaseDep, DeviceCallerDep
from .setup import _used

router = APIRouter(tags=["setup"])


class AdoptBody(BaseModel):
    code: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    admin_id: str = Field(max_length=64)
    tenant: dict[str, Any]
    users: list[dict[str, Any]] = Field(max_length=adopt.MAX_USERS)
    phi_keys: list[dict[str, Any]] = Field(max_length=1000)


class DealsBody(BaseModel):
    deals: list[dict[str, Any]] = Field(max_length=adopt.MAX_DEALS)


def code_hash(code: str) -> bytes:
    """How a setup code is kept and compared: SHA-256 of the code as typed, trimmed."""
    return hashlib.sha256(code.strip().encode()).digest()


@router.post("/v1/setup/adopt", status_code=201)
def adopt_tenant(body: AdoptBody, request: Request, db: DatabaseDep) -> dict[str, str]:
    """Create a tenant from a standalone workspace, keeping its ids (see server.adopt).
    401 a wrong, used or expired code; 403 not the workspace's admin; 409 the tenant or
    an email exists; nothing is written for a refusal."""
    state = request.app.state
    given = code_hash(body.code)
    dev: bytes | None = state.config.setup_code_hash
    data = body.model_dump()
    if dev is not None and hmac.compare_digest(given, dev):
        if not _used.acquire(blocking=False):
            raise ApiError(409, "setup_running", "Setup is already running; wait for it.")
        try:
            if getattr(state, "setup_done", False):
                raise adopt.wrong_code()
            made = adopt.adopt_tenant(db, data, body.password, None)
            state.setup_done = True
        finally:
            _used.release()
    else:
        made = adopt.adopt_tenant(db, data, body.password, given)
    return {"tenant_id": made.tenant_id, "admin_id": made.admin_id}


@router.post("/v1/adopt/deals")
def import_deals(body: DealsBody, who: DeviceCallerDep, db: DatabaseDep) -> dict[str, int]:
    """A batch of the adopted workspace's deals, as they are there (admins, while the
    tenant is being adopted); sending a batch again is harmless."""
    return {"stored": adopt.import_deals(db, who, body.deals)}


@router.post("/v1/adopt/finish")
def finish(who: DeviceCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """Close the deals import: the tenant is an ordinary one from now on."""
    return adopt.finish(db, who)
