"""Sign-in: credentials checked, a session opened, failures counted and locked out; and
signing out or locking, which drops the unlocked keys from memory.

A sign-in is verified by opening the user's key slot on this device (`store.key_vault`:
Argon2id of the password with the keyring's secret, then AES-GCM), which also unlocks
their PHI keys and the device keys. No bcrypt hash in the database is needed: a user
whose row came without one (from the server) signs in only where a slot exists. A user
with an imported bcrypt hash and no slot yet signs in against the hash once; that makes
their slot and clears the hash. Passwords over 72 bytes are refused, never cut.

Failed sign-ins are counted per email, known or not, and lock the email for the policy's
time. Every attempt costs one slot opening (an unknown email gets the same Argon2id
work), so that answers and timings do not tell whether an email exists (issue 13,
finding 5).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import as_utc, utcnow
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import AccountLocked, AuthError, KeyMissing, LeaseExpired, ValidationError
from ..security.device_keys import DeviceKeys
from ..security.passwords import check_password, is_bcrypt_hash
from ..store import audit_log, db, key_vault, lease, phi_keys
from ..store.models import LoginThrottle, User
from ..store.workspace import Workspace
from .frame import AuthSession

BAD_CREDENTIALS = "Email or password is incorrect."
NO_SLOT = ("You have not signed in on this laptop before, so it cannot check your password "
           "offline: sign in online once on this laptop, or ask an admin to reset your "
           "password.")
# What users.password holds once the user's slot verifies them: no hash to crack.
NO_LOCAL_HASH = ""


def sign_in(ws: Workspace, email: str, password: str) -> AuthSession:
    """Check credentials, open a session and unlock the user's keys; every attempt is a
    security event."""
    if not isinstance(password, str) or not password:
        raise ValidationError("Password is required.")
    if len(password.encode("utf-8")) > validation.BCRYPT_MAX_BYTES:
        raise ValidationError("Password is too long: ClosePlan passwords are at most 72 bytes.")
    email = validation.email(email)
    now = utcnow()
    _check_lease(ws, email, now)
    error: AuthError | None = None
    session: AuthSession | None = None
    legacy: list[str] = []
    with db.write_session(ws.engine) as s:
        throttle = s.get(LoginThrottle, email)
        if throttle and throttle.locked_until and as_utc(throttle.locked_until) > now:
            user = user_by_email(s, email)
            key_vault.same_work(s, password)
            audit_log.log_event(s, ws, Ev.LOGIN_LOCKED, user.tenant_id if user else None,
                            user.id if user else None, {"email": email})
            error = AccountLocked(_locked_text(throttle.locked_until, now))
        else:
            user = user_by_email(s, email)
            private = None
            if user is None or user.deactivated_at is not None:
                key_vault.same_work(s, password)
            elif key_vault.has_slot(s, user.id):
                private = key_vault.open_slot(s, ws, user.id, password)
            elif is_bcrypt_hash(user.password):
                if check_password(password, user.password):
                    private = key_vault.make_slot(s, ws, user.id, password)
                    user.password = NO_LOCAL_HASH
                    audit_log.log_event(s, ws, Ev.KEY_SLOT_CREATED, user.tenant_id, user.id,
                                        {"user": user.id, "from": "imported password hash"})
            else:
                audit_log.log_event(s, ws, Ev.LOGIN_FAILURE, user.tenant_id, user.id,
                                    {"email": email, "reason": "no key slot on this device"})
                error = AuthError(NO_SLOT)
            if private is not None and user is not None:
                if throttle:
                    s.delete(throttle)
                legacy = key_vault.unlock(s, ws, user.id, private)
                user.last_login_at = now
                audit_log.log_event(s, ws, Ev.LOGIN_SUCCESS, user.tenant_id, user.id, {})
                session = AuthSession(ws, user.id, user.tenant_id, user.email, user.role,
                                      user.full_name, now)
            elif error is None:
                error = _record_failure(s, ws, email, user, now)
    if error is not None:
        raise error
    assert session is not None
    key_vault.drop_legacy(ws, legacy)  # the grants are committed: the keyring copy goes
    try:
        phi_keys.resume_rotation(ws)  # needs the keys: finished by whoever holds them
    except KeyMissing:
        pass
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


def sign_out(session: AuthSession) -> None:
    """Sign out or lock: the keys this session unlocked leave memory (PHI keys and the
    device keys); signing in again unlocks them."""
    session.ws.keyring.forget()


def device_keys(session: AuthSession) -> DeviceKeys:
    """The device's signing and agreement keys, as the signed-in user unlocked them (for
    sync: signing audit uploads, opening grants). KeyMissing when locked."""
    return key_vault.device_keys(session.ws)


def make_slot(ws: Workspace, user_id: str, password: str) -> None:
    """Make (or replace) a user's key slot here after their online sign-in succeeded:
    from then on they can sign in offline on this device. The keys held in memory now
    (another signed-in user's, or those just received from the server) are granted to
    it; with none held, the next signed-in user who holds them grants them."""
    validation.password(password, 1)
    with db.write_session(ws.engine) as s:
        user = s.get(User, user_id)
        if user is None:
            raise ValidationError("No such user on this device.")
        key_vault.make_slot(s, ws, user_id, password)
        user.password = NO_LOCAL_HASH
        audit_log.log_event(s, ws, Ev.KEY_SLOT_CREATED, user.tenant_id, user_id,
                            {"user": user_id, "from": "online sign-in"})


def user_by_email(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == email))


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
