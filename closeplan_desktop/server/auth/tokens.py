"""Opaque bearer tokens and the sessions they stand for.

A token is `cp1.<tenant id>.<secret>`: the tenant part only says where to look (so the
lookup runs under that tenant's row-level security and, on Citus, on one shard); it
grants nothing by itself, because the session is found by the SHA-256 of the whole token
among that tenant's sessions. The database keeps only that hash. Every request looks the
session up, with its user and device, so a deactivated user, a revoked session or a
revoked device stops at the next call (a stateless JWT could not).

Access tokens are short-lived. Refresh tokens are bound to a device and rotate on use;
a refresh token used twice means it was copied, and every session of that device ends.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from ..caller import Caller
from ..db.pool import Connection
from ..errors import ApiError

PREFIX = "cp1"
TOKEN_RE = re.compile(r"^cp1\.(c[0-9a-z]{24})\.([A-Za-z0-9_-]{43})$")
ACCESS, REFRESH = "ACCESS", "REFRESH"


def unauthorized(code: str, message: str, **detail: object) -> ApiError:
    return ApiError(401, code, message, **detail)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def tenant_of(token: str) -> str:
    """The tenant a well-formed token names (where to look it up), or a 401."""
    m = TOKEN_RE.match(token)
    if not m:
        raise unauthorized("invalid_token", "The access token is not valid: sign in again.")
    return m.group(1)


@dataclass(frozen=True)
class Issued:
    """A token pair as handed to a client (the refresh token only for a device)."""

    access_token: str
    access_expires_in: int
    refresh_token: str | None
    refresh_expires_in: int | None

    def body(self) -> dict[str, object]:
        return {"access_token": self.access_token, "token_type": "bearer",
                "expires_in": self.access_expires_in, "refresh_token": self.refresh_token,
                "refresh_expires_in": self.refresh_expires_in}


def _new_session(conn: Connection, tenant_id: str, user_id: str, device_id: str | None,
                 kind: str, lifetime: timedelta) -> str:
    token = f"{PREFIX}.{tenant_id}.{secrets.token_urlsafe(32)}"
    conn.execute("INSERT INTO sessions (tenant_id, id, user_id, device_id, kind, token_hash, "
                 "expires_at) VALUES (current_tenant_id(), %s, %s, %s, %s, %s, now() + %s)",
                 (secrets.token_hex(12), user_id, device_id, kind, token_hash(token), lifetime))
    return token


def issue(conn: Connection, tenant_id: str, user_id: str, device_id: str | None, *,
          access_minutes: int, refresh_days: int) -> Issued:
    """New sessions for a signed-in user (in `conn`'s tenant context): an access token,
    and a refresh token when the user signs in from a device."""
    access_life = timedelta(minutes=access_minutes)
    access = _new_session(conn, tenant_id, user_id, device_id, ACCESS, access_life)
    if device_id is None:
        return Issued(access, int(access_life.total_seconds()), None, None)
    refresh_life = timedelta(days=refresh_days)
    refresh = _new_session(conn, tenant_id, user_id, device_id, REFRESH, refresh_life)
    return Issued(access, int(access_life.total_seconds()), refresh,
                  int(refresh_life.total_seconds()))


@dataclass(frozen=True)
class Found:
    """A live session with its user and device as the database has them now."""

    caller: Caller
    device_status: str | None


_LOOKUP = """
SELECT s.id, s.user_id, u.role::text, s.device_id, dv.status::text,
       s.revoked_at IS NULL AND s.expires_at > now() AS live,
       u.deactivated_at IS NULL AS active
FROM sessions s
JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
LEFT JOIN devices dv ON dv.tenant_id = s.tenant_id AND dv.id = s.device_id
WHERE s.tenant_id = current_tenant_id() AND s.token_hash = %s AND s.kind = %s
"""


def lookup(conn: Connection, tenant_id: str, token: str, kind: str = ACCESS) -> Found:
    """The session of `token` (in `conn`'s context for `tenant_id`), or a 401 that says
    why: unknown or expired token, signed out, deactivated user."""
    row = conn.execute(_LOOKUP, (token_hash(token), kind)).fetchone()
    if row is None:
        raise unauthorized("invalid_token", "The token is not valid: sign in again.")
    session_id, user_id, role, device_id, device_status, live, active = row
    if not active:
        raise unauthorized("user_deactivated", "This account has been deactivated; ask your "
                           "organisation's admin.")
    if not live:
        raise unauthorized("session_ended", "The session has ended: sign in again.")
    return Found(Caller(tenant_id, user_id, role, session_id, device_id), device_status)


def revoke_session(conn: Connection, session_id: str) -> None:
    conn.execute("UPDATE sessions SET revoked_at = now() WHERE tenant_id = current_tenant_id()"
                 " AND id = %s AND revoked_at IS NULL", (session_id,))


def revoke_user(conn: Connection, user_id: str) -> int:
    """End every session of a user at once (deactivation); returns how many."""
    cur = conn.execute("UPDATE sessions SET revoked_at = now() WHERE tenant_id = "
                       "current_tenant_id() AND user_id = %s AND revoked_at IS NULL", (user_id,))
    return cur.rowcount


def revoke_device(conn: Connection, device_id: str) -> int:
    """End every session of a device at once (revocation, a reused refresh token)."""
    cur = conn.execute("UPDATE sessions SET revoked_at = now() WHERE tenant_id = "
                       "current_tenant_id() AND device_id = %s AND revoked_at IS NULL",
                       (device_id,))
    return cur.rowcount
