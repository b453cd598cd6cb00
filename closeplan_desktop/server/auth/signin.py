"""Sign-in with the seed's bcrypt(js) hashes: the tenant from the email directory, then
the seed's "User Authentication" query in that tenant's context.

An unknown email costs the same bcrypt work as a known one (a well-formed hash no
password matches), and both answer with the same words, so the answer does not tell
whether an email has an account. Repeated failures for one email are slowed down per
process (the desktop locks accounts; the server answers 429 with a wait instead, so
nobody can lock an admin out from the network).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from ...core.domain import validation
from ...core.domain.enums import SecurityEventType
from ...core.domain.errors import ValidationError
from ...core.security.passwords import check_password, dummy_hash
from ..config import ServerConfig
from ..db.pool import Connection, Database
from ..errors import ApiError, bad_request, forbidden
from ..events import record_event
from . import tokens

# The seed's query, verbatim but for psycopg's parameter style.
USER_AUTHENTICATION = ("SELECT set_tenant_context(%(tenant_id)s)",
                       "SELECT * FROM users\nWHERE email = %(email)s\n"
                       "  AND tenant_id = current_tenant_id()")
# The cost of the seed's bcryptjs hashes; unknown emails are checked against a hash of it.
DUMMY_COST = 10
WRONG = "The email or password is wrong."


class Throttle:
    """At most `limit` failed sign-ins per email in `window` seconds, in this process."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, email: str) -> float:
        """Seconds to wait before `email` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            q = self._failures.get(email)
            while q and now - q[0] > self.window:
                q.popleft()
            if not q:
                self._failures.pop(email, None)
                return 0.0
            return max(0.0, self.window - (now - q[0])) if len(q) >= self.limit else 0.0

    def failed(self, email: str) -> None:
        with self._lock:
            self._failures.setdefault(email, deque()).append(time.monotonic())

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email, None)


@dataclass(frozen=True)
class SignedIn:
    tenant_id: str
    user_id: str
    role: str
    issued: tokens.Issued


def _clean(email: object, password: object) -> tuple[str, str]:
    try:
        clean_email = validation.email(email)
    except ValidationError as e:
        raise bad_request("invalid_email", str(e)) from None
    if not isinstance(password, str) or not password:
        raise bad_request("invalid_password", "Password is required.")
    if len(password.encode("utf-8")) > validation.BCRYPT_MAX_BYTES:
        raise bad_request("password_too_long", "Passwords are at most 72 bytes; the one "
                          "given is longer, so it cannot be right.")
    return clean_email, password


def sign_in(db: Database, config: ServerConfig, throttle: Throttle, email: object,
            password: object, device_id: str | None = None) -> SignedIn:
    """Check an email and password and open sessions (bound to `device_id`, a device of
    this user, when given). Raises ApiError: 400 bad input, 401 wrong email or password,
    403 deactivated or revoked device, 429 too many failures."""
    clean_email, secret = _clean(email, password)
    wait = throttle.wait_for(clean_email)
    if wait:
        raise ApiError(429, "too_many_attempts", "Too many failed sign-ins for this email: "
                       f"try again in {int(wait) + 1} seconds.", retry_after=int(wait) + 1)
    tenant_id = db.tenant_for_email(clean_email)
    if tenant_id is None:
        check_password(secret, dummy_hash(DUMMY_COST))
        throttle.failed(clean_email)
        raise tokens.unauthorized("wrong_credentials", WRONG)
    with db.transaction(None) as conn:
        params = {"tenant_id": tenant_id, "email": clean_email}
        conn.execute(USER_AUTHENTICATION[0], params)
        cur = conn.execute(USER_AUTHENTICATION[1], params)
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
        user = dict(zip(names, row, strict=True)) if row else None
        if user is None or not check_password(secret, user["password"]):
            if user is not None:
                record_event(conn, SecurityEventType.LOGIN_FAILURE, user["id"], via="server")
            failed = True
        else:
            failed = False
    if failed or user is None:
        throttle.failed(clean_email)
        raise tokens.unauthorized("wrong_credentials", WRONG)
    if user["deactivated_at"] is not None:
        raise forbidden("user_deactivated", "This account has been deactivated; ask your "
                        "organisation's admin.")
    throttle.succeeded(clean_email)
    with db.transaction(tenant_id, user["id"]) as conn:
        if device_id is not None:
            _check_device(conn, user["id"], device_id)
        issued = tokens.issue(conn, tenant_id, user["id"], device_id,
                              access_minutes=config.access_minutes,
                              refresh_days=config.refresh_days)
        conn.execute("UPDATE users SET last_login_at = now() WHERE tenant_id = "
                     "current_tenant_id() AND id = %s", (user["id"],))
        record_event(conn, SecurityEventType.LOGIN_SUCCESS, user["id"], via="server",
                     device=device_id)
    return SignedIn(tenant_id, user["id"], str(user["role"]), issued)


def _check_device(conn: Connection, user_id: str, device_id: str) -> None:
    row = conn.execute(
        "SELECT status::text FROM devices WHERE tenant_id = current_tenant_id() AND id = %s "
        "AND user_id = %s", (device_id, user_id)).fetchone()
    if row is None:
        raise bad_request("unknown_device", "This device is not enrolled for this account: "
                          "sign in without a device and enrol it.")
    if row[0] == "REVOKED":
        raise forbidden("device_revoked", "This device has been revoked by an admin.")
