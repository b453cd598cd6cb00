"""Sign-in, token refresh, sign-out and "who am I"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from ...auth import signin, tokens
from ...auth.refresh import refresh as refresh_tokens
from ..deps import CallerDep, ConfigDep, DatabaseDep, session

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class SignInBody(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    device_id: str | None = Field(default=None, pattern=r"^c[0-9a-z]{24}$")


class RefreshBody(BaseModel):
    refresh_token: str = Field(max_length=200)


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth word, not a secret)
    expires_in: int
    refresh_token: str | None
    refresh_expires_in: int | None


class SignedInBody(TokenPair):
    tenant_id: str
    user_id: str
    role: str


class Me(BaseModel):
    tenant_id: str
    user_id: str
    role: str
    device_id: str | None


@router.post("/sign-in", response_model=SignedInBody)
def sign_in(body: SignInBody, request: Request, db: DatabaseDep,
            cfg: ConfigDep) -> dict[str, object]:
    """Check email and password (the seed's bcrypt hashes) and open sessions; with a
    `device_id` of this user's, the tokens are bound to that device and a refresh token
    comes too."""
    done = signin.sign_in(db, cfg, request.app.state.throttle, body.email, body.password,
                          body.device_id)
    return {**done.issued.body(), "tenant_id": done.tenant_id, "user_id": done.user_id,
            "role": done.role}


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshBody, db: DatabaseDep, cfg: ConfigDep) -> dict[str, object]:
    """Trade a refresh token for a new pair; the old refresh token stops working. A
    refresh token used twice ends every session of its device (it was copied)."""
    return refresh_tokens(db, cfg, body.refresh_token).body()


@router.post("/sign-out", status_code=204)
def sign_out(found: Annotated[tokens.Found, Depends(session)], db: DatabaseDep) -> None:
    """End this session (and, on a device, every session of that device and user)."""
    who = found.caller
    with db.transaction(who.tenant_id, who.user_id) as conn:
        if who.device_id is None:
            tokens.revoke_session(conn, who.session_id)
        else:
            tokens.revoke_device(conn, who.device_id)


@router.get("/me", response_model=Me)
def me(who: CallerDep) -> dict[str, object]:
    """Who the access token belongs to."""
    return {"tenant_id": who.tenant_id, "user_id": who.user_id, "role": who.role,
            "device_id": who.device_id}
