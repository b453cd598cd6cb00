"""FastAPI dependencies: the database, and who is calling (from the bearer token's
session, looked up on every request, never from the request body)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..auth import tokens
from ..caller import Caller
from ..config import ServerConfig
from ..db.pool import Database
from ..errors import ApiError, forbidden

_bearer = HTTPBearer(auto_error=False, description="An access token from /v1/auth/sign-in.")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def config(request: Request) -> ServerConfig:
    cfg: ServerConfig = request.app.state.config
    return cfg


def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(_bearer)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise tokens.unauthorized("missing_token", "Sign in first: send 'Authorization: "
                                  "Bearer <access token>'.")
    return credentials.credentials


def session(request: Request, token: Annotated[str, Depends(bearer_token)]) -> tokens.Found:
    """The live session behind the access token (401 otherwise). A revoked device gets
    its signed wipe order in the 401's body, when the server can sign one."""
    db = database(request)
    tenant_id = tokens.tenant_of(token)
    with db.transaction(tenant_id) as conn:
        found = tokens.lookup(conn, tenant_id, token)
        if found.device_status == "REVOKED":
            error = tokens.unauthorized("device_revoked", "This device has been revoked by "
                                        "an admin; its data must be removed.")
            hook = getattr(request.app.state, "wipe_order", None)
            if hook is not None and found.caller.device_id:
                order = hook(conn, found.caller.device_id)
                if order is not None:
                    error.detail["wipe_order"] = order
            raise error
    return found


def caller(found: Annotated[tokens.Found, Depends(session)]) -> Caller:
    """Any signed-in user (with or without an enrolled device)."""
    return found.caller


def device_caller(found: Annotated[tokens.Found, Depends(session)]) -> Caller:
    """A signed-in user on an ACTIVE (approved) device: what sync needs."""
    if found.caller.device_id is None:
        raise forbidden("device_required", "Sign in from an enrolled device to sync.")
    if found.device_status != "ACTIVE":
        raise ApiError(403, "device_pending", "This device is waiting for an admin's "
                       "approval: show the admin the code on this screen.")
    return found.caller


def admin_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """A tenant admin."""
    who.require_admin()
    return who


DatabaseDep = Annotated[Database, Depends(database)]
ConfigDep = Annotated[ServerConfig, Depends(config)]
CallerDep = Annotated[Caller, Depends(caller)]
DeviceCallerDep = Annotated[Caller, Depends(device_caller)]
AdminCallerDep = Annotated[Caller, Depends(admin_caller)]
