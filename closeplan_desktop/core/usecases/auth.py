"""Sign-in: credentials checked, a session opened, failures counted and locked out.

Passwords over 72 bytes are refused, never cut (`core.security.passwords` hashes them).
Failed sign-ins are counted per email, known or not, and lock the email for the policy's
time. Every attempt costs exactly one bcrypt check at the cost of the stored hashes: a
known email's own hash, and for an unknown email a dummy hash at the cost most stored
hashes have (never built at first use), so that answers and timings do not tell whether
an email exists (issue 13, finding 5).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import as_utc, utcnow
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import AccountLocked, AuthError, LeaseExpired, ValidationError
from ..security.passwords import check_password, dummy_hash, hash_cost, hash_password
from ..store import audit_log, db, lease
from ..store.models import LoginThrottle, User
from ..store.workspace import Workspace
from .frame import AuthSession

BAD_CREDENTIALS = "Email or password is incorrect."


def sign_in(ws: Workspace, email: str, password: str) -> AuthSession:
    """Check credentials and open a session; every attempt is a security event."""
    if not isinstance(password, str) or not password:
        raise ValidationError("Password is required.")
    if len(password.encode("utf-8")) > validation.BCRYPT_MAX_BYTES:
        raise ValidationError("Password is too long: ClosePlan passwords are at most 72 bytes.")
    email = validation.email(email)
    policy = ws.policy
    now = utcnow()
    _check_lease(ws, email, now)
    error: AuthError | None = None
    session: AuthSession | None = None
    with db.write_session(ws.engine) as s:
        throttle = s.get(LoginThrottle, email)
        if throttle and throttle.locked_until and as_utc(throttle.locked_until) > now:
            user = user_by_email(s, email)
            _same_work(s, password, user)
            audit_log.log_event(s, ws, Ev.LOGIN_LOCKED, user.tenant_id if user else None,
                            user.id if user else None, {"email": email})
            error = AccountLocked(_locked_text(throttle.locked_until, now))
        else:
            user = user_by_email(s, email)
            ok = False
            if user is None or user.deactivated_at is not None:
                _same_work(s, password, user)
            else:
                ok = check_password(password, user.password)
            if ok and user is not None:
                if throttle:
                    s.delete(throttle)
                cost = hash_cost(user.password) or 0
                if cost < policy.bcrypt_cost:
                    user.password = hash_password(password, policy.bcrypt_cost)
                    audit_log.log_event(s, ws, Ev.PASSWORD_REHASHED, user.tenant_id, user.id,
                                    {"from_cost": cost, "to_cost": policy.bcrypt_cost})
                user.last_login_at = now
                audit_log.log_event(s, ws, Ev.LOGIN_SUCCESS, user.tenant_id, user.id, {})
                session = AuthSession(ws, user.id, user.tenant_id, user.email, user.role,
                                      user.full_name, now)
            else:
                error = _record_failure(s, ws, email, user, now)
    if error is not None:
        raise error
    assert session is not None
    return session


def _check_lease(ws: Workspace, email: str, now: datetime) -> None:
    """A connected workspace offline past its lease shows no data: refuse (and log)."""
    try:
        lease.check(ws.keyring, ws.policy.offline_lease_days, now)
    except LeaseExpired:
        with db.write_session(ws.engine) as s:
            user = user_by_email(s, email)
            audit_log.log_event(s, ws, Ev.OFFLINE_LEASE_EXPIRED, user.tenant_id if user else
                                None, user.id if user else None, {"email": email})
        raise


def user_by_email(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == email))


def _same_work(s: Session, password: str, user: User | None) -> None:
    """The one bcrypt check of an attempt that fails anyway: against the user's own hash
    (a locked or deactivated account), or a dummy at the stored hashes' usual cost."""
    check_password(password, user.password if user is not None else
                   dummy_hash(_usual_cost(s)))


def _usual_cost(s: Session) -> int:
    """The bcrypt cost most stored hashes have (10 in an empty workspace)."""
    cost = s.scalar(select(func.substr(User.password, 5, 2)).group_by(
        func.substr(User.password, 5, 2)).order_by(func.count().desc()).limit(1))
    try:
        return max(4, min(31, int(cost))) if cost else 10
    except ValueError:
        return 10


def _locked_text(until: datetime, now: datetime) -> str:
    minutes = max(1, math.ceil((as_utc(until) - now).total_seconds() / 60))
    return (f"Too many failed sign-ins: this account is locked. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or ask an administrator.")


def _record_failure(s: Session, ws: Workspace, email: str, user: User | None,
                    now: datetime) -> AuthError:
    policy = ws.policy
    throttle = s.get(LoginThrottle, email)
    if throttle is None:
        throttle = LoginThrottle(email=email, failures=0)
        s.add(throttle)
    window = timedelta(minutes=policy.lockout_minutes)
    if throttle.last_failure_at and now - as_utc(throttle.last_failure_at) > window:
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    tenant_id, user_id = (user.tenant_id, user.id) if user else (None, None)
    audit_log.log_event(s, ws, Ev.LOGIN_FAILURE, tenant_id, user_id,
                    {"email": email, "failures": throttle.failures})
    if throttle.failures >= policy.lockout_threshold:
        throttle.locked_until = now + window
        audit_log.log_event(s, ws, Ev.LOCKOUT, tenant_id, user_id,
                        {"email": email, "minutes": policy.lockout_minutes})
        return AccountLocked(_locked_text(throttle.locked_until, now))
    return AuthError(BAD_CREDENTIALS)
