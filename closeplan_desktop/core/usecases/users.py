"""Tenant and user use cases: create a tenant with its first admin; manage users.

Guard rails: a tenant never has fewer than one active admin, and an admin cannot
deactivate themself. Users are deactivated, never deleted: logs keep pointing at them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import as_utc, utcnow
from ..domain.enums import SecurityEventType as Ev
from ..domain.enums import UserRole
from ..domain.errors import NotFoundError, PermissionDenied, ValidationError
from ..domain.ids import is_id, new_id
from ..security.passwords import check_password, hash_password, is_bcrypt_hash, require_strong
from ..store import db, key_vault
from ..store.audit_log import log_event
from ..store.changes import record_change
from ..store.models import LoginThrottle, Tenant, User
from ..store.outbox import record_row
from ..store.phi_keys import create_first_phi_key
from ..store.workspace import Workspace
from .auth import NO_LOCAL_HASH
from .frame import AuthSession, Denied, actor, require_admin, run

MAX_IMPORT_LINE = 64 * 1024


@dataclass(frozen=True)
class UserInfo:
    id: str
    email: str
    first_name: str
    last_name: str
    role: UserRole
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    locked: bool = False  # failed sign-ins lock them out now (an admin may `unlock`)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def _info(u: User, locked: bool = False) -> UserInfo:
    return UserInfo(u.id, u.email, u.first_name, u.last_name, u.role, u.active, u.created_at,
                    u.last_login_at, locked)


def _locked_emails(s: Session, emails: list[str]) -> set[str]:
    """Which of `emails` a sign-in lockout holds now."""
    now = utcnow()
    rows = s.scalars(select(LoginThrottle).where(LoginThrottle.email.in_(emails),
                                                 LoginThrottle.locked_until.is_not(None)))
    return {t.email for t in rows
            if t.locked_until is not None and as_utc(t.locked_until) > now}


def create_tenant(ws: Workspace, name: str, domain: str | None, admin_email: str,
                  first_name: str, last_name: str, password: str) -> tuple[str, str]:
    """Create the workspace's tenant, its first PHI key and its first admin. Returns
    (tenant, user) ids. A workspace holds exactly one tenant: a second is refused."""
    name = validation.text(name, "Tenant name", max_len=200)
    clean_domain = validation.domain(domain)
    email = validation.email(admin_email)
    first = validation.person_name(first_name, "First name")
    last = validation.person_name(last_name, "Last name")
    password = require_strong(validation.password(password, ws.policy.password_min_length),
                              (email, first, last, name, clean_domain or ""))
    hashed = hash_password(password, ws.policy.bcrypt_cost)
    with db.write_session(ws.engine) as s:
        refuse_second_tenant(s)
        _email_free(s, email, None)
        tenant = Tenant(id=new_id(), name=name, domain=clean_domain)
        s.add(tenant)
        s.flush()
        user = User(id=new_id(), email=email, first_name=first, last_name=last, password=hashed,
                    tenant_id=tenant.id, role=UserRole.ADMIN)
        s.add(user)
        s.flush()
        key_vault.make_slot(s, ws, user.id, password)
        create_first_phi_key(s, ws, tenant.id, user.id)
        record_change(s, ws, tenant, "create", by=user.id, event=Ev.TENANT_CREATED,
                      detail={"name": name})
        record_change(s, ws, user, "create", by=user.id, event=Ev.USER_CREATED,
                      detail={"email": email, "role": "ADMIN"})
        _keep_hash_for_sync_only(user)
        return tenant.id, user.id


def refuse_second_tenant(s: Session) -> None:
    """A workspace holds exactly one tenant (README): its database key, audit key and
    recovery kit are that tenant's alone (issue 13, finding 2)."""
    if s.scalar(select(Tenant.id).limit(1)) is not None:
        raise ValidationError("This workspace already holds an organisation, and a workspace "
                              "holds exactly one. Create another workspace (another folder) "
                              "for another organisation.")


def _email_clash(s: Session, email: str, tenant_id: str | None) -> str | None:
    """Why `email` cannot be used, or None. Emails are unique in the workspace; a clash
    with a user of another tenant (only in an older workspace that holds two) is named
    without saying that such a user exists."""
    owner = s.scalar(select(User.tenant_id).where(User.email == email))
    if owner is None:
        return None
    if tenant_id is not None and owner != tenant_id:
        return "this email cannot be used here"
    return "a user with this email already exists"


def _email_free(s: Session, email: str, tenant_id: str | None) -> None:
    clash = _email_clash(s, email, tenant_id)
    if clash is not None:
        raise ValidationError(f"{clash[0].upper()}{clash[1:]}; use another email.")


def _target(s: Session, session: AuthSession, user_id: str, action: str) -> User:
    user = s.get(User, user_id) if is_id(user_id) else None
    if user is None or user.tenant_id != session.tenant_id:
        raise Denied(NotFoundError("No such user."),
                     lambda s2: log_event(s2, session.ws, Ev.ACCESS_DENIED, session.tenant_id,
                                          session.user_id, {"action": action,
                                                            "user": str(user_id)[:40]}))
    return user


def find_user_id(session: AuthSession, email: str) -> str:
    """The id of the tenant's user with this email (for the CLI's email arguments)."""
    email = validation.email(email)
    with run(session, write=False) as s:
        actor(s, session)
        uid = s.scalar(select(User.id).where(User.email == email,
                                             User.tenant_id == session.tenant_id))
    if uid is None:
        raise NotFoundError("No user with this email in your tenant.")
    return uid


def list_users(session: AuthSession) -> list[UserInfo]:
    """Admin use case: the tenant's users, active first, by name."""
    with run(session, write=False) as s:
        require_admin(s, session, "users.list")
        users = list(s.scalars(select(User).where(User.tenant_id == session.tenant_id)
                               .order_by(User.deactivated_at.is_not(None), User.last_name,
                                         User.first_name)))
        locked = _locked_emails(s, [u.email for u in users])
        return [_info(u, u.email in locked) for u in users]


def add_user(session: AuthSession, email: str, first_name: str, last_name: str,
             role: UserRole | str, password: str) -> UserInfo:
    """Admin use case: add a user to the tenant."""
    email = validation.email(email)
    first = validation.person_name(first_name, "First name")
    last = validation.person_name(last_name, "Last name")
    role = validation.role(role)
    password = require_strong(
        validation.password(password, session.ws.policy.password_min_length),
        (email, first, last))
    hashed = hash_password(password, session.ws.policy.bcrypt_cost)
    with run(session) as s:
        require_admin(s, session, "users.add")
        _email_free(s, email, session.tenant_id)
        user = User(id=new_id(), email=email, first_name=first, last_name=last, password=hashed,
                    tenant_id=session.tenant_id, role=role)
        s.add(user)
        s.flush()
        record_change(s, session.ws, user, "create", by=session.user_id,
                      event=Ev.USER_CREATED,
                      detail={"user": user.id, "email": email, "role": role.value})
        key_vault.make_slot(s, session.ws, user.id, password)
        _keep_hash_for_sync_only(user)
        return _info(user)


def _active_admins(s: Session, tenant_id: str) -> int:
    return s.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == tenant_id, User.role == UserRole.ADMIN,
        User.deactivated_at.is_(None))) or 0


def set_role(session: AuthSession, user_id: str, role: UserRole | str) -> UserInfo:
    """Admin use case: change a user's role; the last active admin stays an admin."""
    role = validation.role(role)
    with run(session) as s:
        require_admin(s, session, "users.set_role")
        user = _target(s, session, user_id, "users.set_role")
        if user.role == role:
            return _info(user)
        if user.role == UserRole.ADMIN and user.active and _active_admins(s, user.tenant_id) <= 1:
            raise PermissionDenied("This is the tenant's last active administrator; make "
                                   "another user an administrator first.")
        old = user.role
        user.role = role
        user.updated_at = utcnow()
        record_change(s, session.ws, user, "update", by=session.user_id,
                      event=Ev.ROLE_CHANGED, fields=("role",),
                      detail={"user": user.id, "from": old.value, "to": role.value})
        return _info(user)


def deactivate(session: AuthSession, user_id: str) -> UserInfo:
    """Admin use case: deactivate a user (never yourself, never the last admin)."""
    with run(session) as s:
        require_admin(s, session, "users.deactivate")
        user = _target(s, session, user_id, "users.deactivate")
        if user.id == session.user_id:
            raise PermissionDenied("You cannot deactivate your own account; ask another "
                                   "administrator.")
        if not user.active:
            return _info(user)
        if user.role == UserRole.ADMIN and _active_admins(s, user.tenant_id) <= 1:
            raise PermissionDenied("This is the tenant's last active administrator; make "
                                   "another user an administrator first.")
        user.deactivated_at = user.updated_at = utcnow()
        record_change(s, session.ws, user, "update", by=session.user_id,
                      event=Ev.USER_DEACTIVATED, detail={"user": user.id},
                      fields=("deactivated_at",))
        return _info(user)


def reactivate(session: AuthSession, user_id: str) -> UserInfo:
    """Admin use case: reactivate a deactivated user."""
    with run(session) as s:
        require_admin(s, session, "users.reactivate")
        user = _target(s, session, user_id, "users.reactivate")
        if user.active:
            return _info(user)
        user.deactivated_at = None
        user.updated_at = utcnow()
        record_change(s, session.ws, user, "update", by=session.user_id,
                      event=Ev.USER_REACTIVATED, detail={"user": user.id},
                      fields=("deactivated_at",))
        return _info(user)


def reset_password(session: AuthSession, user_id: str, new_password: str) -> UserInfo:
    """Admin use case: set a new password for a user."""
    new_password = require_strong(
        validation.password(new_password, session.ws.policy.password_min_length))
    hashed = hash_password(new_password, session.ws.policy.bcrypt_cost)
    with run(session) as s:
        require_admin(s, session, "users.reset_password")
        user = _target(s, session, user_id, "users.reset_password")
        user.password = hashed
        user.updated_at = utcnow()
        record_change(s, session.ws, user, "update", by=session.user_id,
                      event=Ev.PASSWORD_RESET, detail={"user": user.id},
                      fields=("password",))
        # A new slot: the admin's keys in memory are wrapped for it, no old password needed.
        key_vault.make_slot(s, session.ws, user.id, new_password)
        _keep_hash_for_sync_only(user)
        # A reset also lifts a lockout: the admin has just given the user a way in.
        _clear_lockout(s, session, user, "password reset")
        return _info(user)


def unlock(session: AuthSession, user_id: str) -> UserInfo:
    """Admin use case: lift a user's sign-in lockout (logged). Lockouts count failures
    per email, so anyone who knows an admin's email could otherwise keep them out."""
    with run(session) as s:
        require_admin(s, session, "users.unlock")
        user = _target(s, session, user_id, "users.unlock")
        _clear_lockout(s, session, user, "unlock")
        return _info(user)


def _clear_lockout(s: Session, session: AuthSession, user: User, why: str) -> None:
    throttle = s.get(LoginThrottle, user.email)
    if throttle is None:
        return
    s.delete(throttle)
    log_event(s, session.ws, Ev.USER_UNLOCKED, session.tenant_id, session.user_id,
              {"user": user.id, "by": why, "failures": throttle.failures})


def change_password(session: AuthSession, current: str, new_password: str) -> None:
    """Any user: change your own password, proving the current one."""
    new_password = require_strong(
        validation.password(new_password, session.ws.policy.password_min_length),
        (session.email,))
    hashed = hash_password(new_password, session.ws.policy.bcrypt_cost)
    with run(session) as s:
        user = actor(s, session)
        private = None
        if isinstance(current, str) and current and \
                len(current.encode("utf-8")) <= validation.BCRYPT_MAX_BYTES:
            if key_vault.has_slot(s, user.id):
                private = key_vault.open_slot(s, session.ws, user.id, current)
            elif check_password(current, user.password):
                private = key_vault.make_slot(s, session.ws, user.id, current)
        if private is None:
            raise PermissionDenied("Your current password is incorrect.")
        user.password = hashed
        user.updated_at = utcnow()
        record_change(s, session.ws, user, "update", by=session.user_id,
                      event=Ev.PASSWORD_CHANGED, fields=("password",))
        key_vault.reseal_slot(s, session.ws, user.id, private, new_password)
        _keep_hash_for_sync_only(user)


def _keep_hash_for_sync_only(user: User) -> None:
    """After the change's outbox row took the bcrypt hash (the server signs the user in
    online with it), the local row keeps none: the user's key slot verifies them here,
    so the database holds nothing cheaper to crack than Argon2id."""
    user.password = NO_LOCAL_HASH


def import_users(session: AuthSession, lines: list[str]) -> int:
    """Admin use case: import users exported from the ClosePlan server as JSON lines,
    keeping their bcrypt hashes. All or nothing: one bad line imports none."""
    parsed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"Line {n}"
        if len(line) > MAX_IMPORT_LINE:
            raise ValidationError(f"{where}: is too long to be a user record.")
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            raise ValidationError(f"{where}: is not valid JSON; each line must be one user "
                                  "object.") from None
        if not isinstance(rec, dict):
            raise ValidationError(f"{where}: must be a JSON object.")
        try:
            item = _import_record(rec, session.tenant_id)
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}") from None
        if item["email"] in seen:
            raise ValidationError(f"{where}: the email appears twice in the file.")
        seen.add(item["email"])
        parsed.append(item)
    if not parsed:
        raise ValidationError("The file holds no users.")
    with run(session) as s:
        require_admin(s, session, "users.import")
        for n, item in enumerate(parsed, 1):
            clash = _email_clash(s, item["email"], session.tenant_id)
            if clash is not None:
                raise ValidationError(f"User {n} in the file: {clash}; nothing was "
                                      "imported.")
            if item["id"] and s.get(User, item["id"]) is not None:
                raise ValidationError(f"User {n} in the file: the id already exists; nothing "
                                      "was imported.")
            user = User(id=item["id"] or new_id(), email=item["email"],
                        first_name=item["first_name"], last_name=item["last_name"],
                        password=item["password"], tenant_id=session.tenant_id,
                        role=item["role"], created_at=item["created_at"] or utcnow(),
                        updated_at=utcnow())
            s.add(user)
            s.flush()
            record_row(s, user, "create")
        log_event(s, session.ws, Ev.USERS_IMPORTED, session.tenant_id, session.user_id,
                  {"count": len(parsed)})
        try:
            s.flush()
        except IntegrityError:
            raise ValidationError("The file conflicts with existing users; nothing was "
                                  "imported.") from None
    return len(parsed)


def _import_record(rec: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    def pick(*names: str) -> Any:
        for name in names:
            if name in rec:
                return rec[name]
        return None

    tenant = pick("tenantId", "tenant_id")
    if tenant is not None and tenant != tenant_id:
        raise ValidationError("the user belongs to another tenant.")
    hashed = pick("password", "passwordHash")
    if not is_bcrypt_hash(hashed):
        raise ValidationError("'password' must be a bcrypt hash ($2a$, $2b$ or $2y$).")
    uid = pick("id")
    if uid is not None and not is_id(uid):
        raise ValidationError("'id' must be a cuid.")
    created = pick("createdAt", "created_at")
    created_at = None
    if created is not None:
        try:
            created_at = as_utc(datetime.fromisoformat(str(created).replace("Z", "+00:00")))
        except ValueError:
            raise ValidationError("'createdAt' must be an ISO 8601 time.") from None
    return {
        "id": uid,
        "email": validation.email(pick("email")),
        "first_name": validation.person_name(pick("firstName", "first_name"), "firstName"),
        "last_name": validation.person_name(pick("lastName", "last_name"), "lastName"),
        "role": validation.role(pick("role") or "USER"),
        "password": hashed,
        "created_at": created_at,
    }


def tenant_name(session: AuthSession) -> str:
    """The name of the session's tenant (for the status bar and titles)."""
    with run(session, write=False) as s:
        actor(s, session)
        tenant = s.get(Tenant, session.tenant_id)
        return tenant.name if tenant else ""
