"""First run of a server made by `closeplan-server dev`: the printed one-time code
creates the first tenant and its admin. Without a code (production) tenants are made
with `closeplan-server create-tenant`."""

from __future__ import annotations

import hashlib
import hmac
import threading

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ...errors import ApiError, forbidden
from ...tenants import create_tenant
from ..deps import DatabaseDep

router = APIRouter(prefix="/v1/setup", tags=["setup"])
_used = threading.Lock()


class FirstTenant(BaseModel):
    code: str = Field(max_length=64)
    organisation: str = Field(max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    email: str = Field(max_length=254)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    password: str = Field(max_length=1024)


class Created(BaseModel):
    tenant_id: str
    admin_id: str


@router.post("/first-tenant", response_model=Created, status_code=201)
def first_tenant(body: FirstTenant, request: Request, db: DatabaseDep) -> dict[str, str]:
    """Create the first tenant and its admin with the code the server printed; the code
    works once."""
    state = request.app.state
    expected: bytes | None = state.config.setup_code_hash
    if expected is None or getattr(state, "setup_done", False):
        raise forbidden("setup_closed", "This server takes no setup code: an operator creates"
                        " tenants with 'closeplan-server create-tenant'.")
    given = hashlib.sha256(body.code.strip().encode()).digest()
    if not hmac.compare_digest(given, expected):
        raise ApiError(401, "wrong_code", "The setup code is wrong: use the code the server "
                       "printed when it started.")
    if not _used.acquire(blocking=False):
        raise ApiError(409, "setup_running", "Setup is already running; wait for it.")
    try:
        if getattr(state, "setup_done", False):
            raise forbidden("setup_closed", "The setup code has been used already.")
        made = create_tenant(db, body.organisation, body.domain, body.email,
                             body.first_name, body.last_name, body.password)
        state.setup_done = True
    finally:
        _used.release()
    return {"tenant_id": made.tenant_id, "admin_id": made.admin_id}
