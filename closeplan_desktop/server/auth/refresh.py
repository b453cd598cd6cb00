"""Refresh-token rotation with reuse detection (OAuth 2.0 Security BCP, section 4.14)."""

from __future__ import annotations

from ..config import ServerConfig
from ..db.pool import Database
from . import tokens

_FIND = """
SELECT s.id, s.user_id, s.device_id, s.revoked_at IS NOT NULL AS revoked,
       s.expires_at <= now() AS expired, u.deactivated_at IS NOT NULL AS deactivated,
       dv.status::text
FROM sessions s
JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
LEFT JOIN devices dv ON dv.tenant_id = s.tenant_id AND dv.id = s.device_id
WHERE s.tenant_id = current_tenant_id() AND s.token_hash = %s AND s.kind = 'REFRESH'
FOR UPDATE OF s
"""


def refresh(db: Database, config: ServerConfig, token: str) -> tokens.Issued:
    """A new access and refresh token for a live refresh token, which is used up. A
    refresh token presented again after use ends every session of its device."""
    tenant_id = tokens.tenant_of(token)
    reused = False
    with db.transaction(tenant_id) as conn:
        row = conn.execute(_FIND, (tokens.token_hash(token),)).fetchone()
        if row is None:
            raise tokens.unauthorized("invalid_token", "The refresh token is not valid: "
                                      "sign in again.")
        session_id, user_id, device_id, revoked, expired, deactivated, status = row
        if revoked:
            # Used before: someone holds a copy. End the device's sessions (committed).
            tokens.revoke_device(conn, device_id)
            reused = True
        elif deactivated or status == "REVOKED" or expired:
            tokens.revoke_session(conn, session_id)
        else:
            tokens.revoke_session(conn, session_id)
            return tokens.issue(conn, tenant_id, user_id, device_id,
                                access_minutes=config.access_minutes,
                                refresh_days=config.refresh_days)
    if reused:
        raise tokens.unauthorized("token_reused", "This refresh token was already used, so "
                                  "every session of this device has ended: sign in again.")
    if deactivated:
        raise tokens.unauthorized("user_deactivated", "This account has been deactivated; ask "
                                  "your organisation's admin.")
    if status == "REVOKED":
        raise tokens.unauthorized("device_revoked", "This device has been revoked by an admin.")
    raise tokens.unauthorized("session_ended", "The session has ended: sign in again.")
