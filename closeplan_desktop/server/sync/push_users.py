"""Pushed user and tenant mutations (SYNC.md, Conflicts: users, tenants).

Admins manage users offline; the server re-checks the desktop's rules on arrival: users
only by admins (a user may set their own password), no self-deactivation or
self-demotion, never fewer than one active admin, an email unique across every tenant (a
clash is `email_taken`, saying nothing of another tenant). Passwords arrive as bcrypt
hashes, never as passwords. Per field last writer wins, except that a deactivation beats
a concurrent reactivation: one made without having seen it. Each change writes a
security event.
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from ...core.domain import validation
from ...core.domain.enums import SecurityEventType as Ev
from ...core.domain.enums import ServerEventType, UserRole
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from .merge import Assignment, Merge, Row, merge, versions_of, write_merge
from .mutations import Mutation
from .outcome import CONFLICT, HASH_WITHHELD, Context, Rejected, Verdict

FIELDS = ("email", "first_name", "last_name", "password", "role", "deactivated_at")
GROUPS = {name: (name,) for name in FIELDS}
# The desktop's bcrypt hashes ($2a$ as the seed's bcryptjs makes them, $2b$ as Python's).
BCRYPT_RE = re.compile(r"\$2[ab]\$(\d\d)\$[./A-Za-z0-9]{53}")
BCRYPT_COSTS = range(10, 15)
# Security events the desktop has no type for (a server-side edit of names or email).
USER_UPDATED = ServerEventType.USER_UPDATED
TENANT_UPDATED = ServerEventType.TENANT_UPDATED
EMAIL_TAKEN = "email_taken"
EMAIL_TAKEN_MESSAGE = "This email cannot be used; use another email."
LAST_ADMIN_MESSAGE = ("This is the organisation's last active administrator; make another "
                      "user an administrator first.")


def _hash(value: Any) -> str:
    m = BCRYPT_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None or not isinstance(value, str):
        raise Rejected("invalid", "The password must arrive as a bcrypt hash ($2a$ or $2b$); "
                                  "update the app.")
    if int(m.group(1)) not in BCRYPT_COSTS:
        raise Rejected("invalid", "The password hash's cost must be between 10 and 14; "
                                  "set the password again.")
    return value


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The pushed user fields, checked by the desktop's own rules."""
    out: dict[str, Any] = {}
    try:
        if "email" in fields:
            out["email"] = validation.email(fields["email"])
        if "first_name" in fields:
            out["first_name"] = validation.person_name(fields["first_name"], "First name")
        if "last_name" in fields:
            out["last_name"] = validation.person_name(fields["last_name"], "Last name")
        if "role" in fields:
            out["role"] = validation.role(fields["role"]).value
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None
    if "password" in fields:
        out["password"] = _hash(fields["password"])
    return out


def as_json(field: str, value: Any) -> Any:
    """A field's value as `conflicts` keeps it (never a password hash)."""
    if field == "password":
        return HASH_WITHHELD
    if field == "deactivated_at":
        return {"deactivated": bool(value)}
    return value


def _require_admin(ctx: Context, m: Mutation) -> None:
    if not ctx.is_admin:
        raise Rejected("forbidden", "Only a tenant admin can manage users.",
                       lambda c: c.log_event(Ev.ACCESS_DENIED.value,
                                             {"action": f"users.{m.op}", "user": m.id[:40]}))


def _email_free(ctx: Context, email: str) -> None:
    """Emails are unique across tenants (the seed); the directory's function answers."""
    owner = ctx.conn.execute("SELECT tenant_for_email(%s)", (email,)).fetchone()
    if owner is not None and owner[0] is not None:
        raise Rejected(EMAIL_TAKEN, EMAIL_TAKEN_MESSAGE)


def _active_admins(ctx: Context) -> int:
    got = ctx.conn.execute("SELECT count(*) FROM users WHERE tenant_id = %s AND role = 'ADMIN' "
                           "AND deactivated_at IS NULL", (ctx.tenant_id,)).fetchone()
    return 0 if got is None else int(got[0])


def load(ctx: Context, m: Mutation) -> Row:
    """The user, locked for this push; a user of another tenant answers as missing."""
    found = None
    if is_id(m.id):
        found = ctx.conn.execute(
            "SELECT email, first_name, last_name, password, role::text, deactivated_at IS NOT "
            "NULL, row_version, field_versions, field_devices FROM users "
            "WHERE tenant_id = %s AND id = %s FOR UPDATE", (ctx.tenant_id, m.id)).fetchone()
    if found is None:
        raise Rejected("not_found", "No such user.",
                       lambda c: c.log_event(Ev.ACCESS_DENIED.value,
                                             {"action": f"users.{m.op}", "user": m.id[:40]}))
    values = dict(zip(FIELDS, found[:6], strict=True))
    return Row(values, versions_of(found[7], GROUPS), found[8], int(found[6]))


def _write(ctx: Context, m: Mutation, row: Row, result: Merge) -> Verdict:
    """Write the changed fields and keep what they overwrote; the verdict."""
    assignments: list[Assignment] = []
    for name, value in result.changed.items():
        if name == "deactivated_at":
            assignments.append((name, "now()" if value else "NULL", ()))
        else:
            assignments.append((name, "%s::user_role" if name == "role" else "%s", (value,)))
    return write_merge(ctx, "users", m, row, result, assignments, as_json)


def create(ctx: Context, m: Mutation) -> Verdict:
    """A new user of the tenant (admins only)."""
    _require_admin(ctx, m)
    if not is_id(m.id):
        raise Rejected("invalid_id", "A new user's id must be an id made by the app.")
    clean = clean_fields(m.fields)
    role = clean.get("role", UserRole.USER.value)
    _email_free(ctx, clean["email"])
    ctx.conn.execute(
        "INSERT INTO users (tenant_id, id, email, first_name, last_name, password, role, "
        "field_devices) VALUES (%s, %s, %s, %s, %s, %s, %s::user_role, %s)",
        (ctx.tenant_id, m.id, clean["email"], clean["first_name"], clean["last_name"],
         clean["password"], role, Jsonb(dict.fromkeys(FIELDS, ctx.device_id))))
    ctx.log_event(Ev.USER_CREATED.value, {"user": m.id, "email": clean["email"], "role": role})
    return Verdict(m.mid, "applied", row_version=ctx.version)


def update(ctx: Context, m: Mutation) -> Verdict:
    """Names, email and role (admins only; never your own role, never the last admin)."""
    _require_admin(ctx, m)
    row = load(ctx, m)
    clean = clean_fields(m.fields)
    result = merge(row, clean, m.base_version or 0, ctx.device_id)
    new_role = result.changed.get("role")
    if new_role is not None and new_role != UserRole.ADMIN.value:
        if m.id == ctx.user_id:
            raise Rejected("self_demotion", "You cannot remove your own administrator role; "
                                            "ask another administrator.")
        if not row.values["deactivated_at"] and _active_admins(ctx) <= 1:
            raise Rejected("last_admin", LAST_ADMIN_MESSAGE)
    if "email" in result.changed:
        _email_free(ctx, result.changed["email"])
    verdict = _write(ctx, m, row, result)
    if new_role is not None:
        ctx.log_event(Ev.ROLE_CHANGED.value,
                      {"user": m.id, "from": row.values["role"], "to": new_role})
    others = sorted(set(result.changed) - {"role"})
    if others:
        ctx.log_event(USER_UPDATED, {"user": m.id, "fields": others})
    return verdict


def deactivate(ctx: Context, m: Mutation) -> Verdict:
    """Deactivate a user (never yourself, never the last active admin); their sessions
    end at once."""
    _require_admin(ctx, m)
    if m.id == ctx.user_id:
        raise Rejected("self_deactivation", "You cannot deactivate your own account; ask "
                                            "another administrator.")
    row = load(ctx, m)
    result = merge(row, {"deactivated_at": True}, m.base_version or 0, ctx.device_id)
    if result.changed and row.values["role"] == UserRole.ADMIN.value \
            and _active_admins(ctx) <= 1:
        raise Rejected("last_admin", LAST_ADMIN_MESSAGE)
    verdict = _write(ctx, m, row, result)
    if result.changed:
        ctx.conn.execute("UPDATE sessions SET revoked_at = now() WHERE tenant_id = %s AND "
                         "user_id = %s AND revoked_at IS NULL", (ctx.tenant_id, m.id))
        ctx.log_event(Ev.USER_DEACTIVATED.value, {"user": m.id})
    return verdict


def reactivate(ctx: Context, m: Mutation) -> Verdict:
    """Reactivate a user, unless a deactivation it had not seen came first (it wins)."""
    _require_admin(ctx, m)
    row = load(ctx, m)
    base = m.base_version or 0
    if row.values["deactivated_at"] and row.changed_by_others("deactivated_at", base,
                                                              ctx.device_id):
        ctx.record_conflict("users", m.id, "deactivated_at", m.mid, m.base_version,
                            row.versions["deactivated_at"], as_json("deactivated_at", True),
                            as_json("deactivated_at", False))
        return Verdict(m.mid, CONFLICT, "deactivation_wins",
                       "Another administrator deactivated this user meanwhile; the "
                       "deactivation stands. Reactivate again if that is still right.",
                       row.row_version)
    result = merge(row, {"deactivated_at": False}, base, ctx.device_id)
    verdict = _write(ctx, m, row, result)
    if result.changed:
        ctx.log_event(Ev.USER_REACTIVATED.value, {"user": m.id})
    return verdict


def set_password(ctx: Context, m: Mutation) -> Verdict:
    """A new password hash: an admin for anyone, a user for themself."""
    if m.id != ctx.user_id:
        _require_admin(ctx, m)
    row = load(ctx, m)
    result = merge(row, clean_fields(m.fields), m.base_version or 0, ctx.device_id)
    verdict = _write(ctx, m, row, result)
    if result.changed:
        event = Ev.PASSWORD_CHANGED if m.id == ctx.user_id else Ev.PASSWORD_RESET
        ctx.log_event(event.value, {"user": m.id})
    return verdict


def update_tenant(ctx: Context, m: Mutation) -> Verdict:
    """The organisation's name and domain (admins only; last writer wins)."""
    if m.id != ctx.tenant_id:
        raise Rejected("not_found", "No such organisation.")
    if not ctx.is_admin:
        raise Rejected("forbidden", "Only a tenant admin can change the organisation.")
    clean: dict[str, Any] = {}
    try:
        if "name" in m.fields:
            clean["name"] = validation.text(m.fields["name"], "Organisation name", max_len=200)
        if "domain" in m.fields:
            clean["domain"] = validation.domain(m.fields["domain"])
    except ValidationError as exc:
        raise Rejected("invalid", str(exc)) from None
    found = ctx.conn.execute("SELECT name, domain, row_version FROM tenants WHERE id = %s "
                             "FOR UPDATE", (ctx.tenant_id,)).fetchone()
    assert found is not None  # the caller's own tenant, visible in its context
    current = {"name": found[0], "domain": found[1]}
    changed = {k: v for k, v in clean.items() if current[k] != v}
    version = int(found[2])
    if changed:
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changed)
        got = ctx.conn.execute(
            sql.SQL("UPDATE tenants SET {}, updated_at = now() WHERE id = %s "
                    "RETURNING row_version").format(sets),
            [*changed.values(), ctx.tenant_id]).fetchone()
        assert got is not None
        ctx.log_event(TENANT_UPDATED, {"fields": sorted(changed)})
        version = int(got[0])
    moved = int(found[2]) > (m.base_version or 0)
    return Verdict(m.mid, "merged" if moved else "applied", row_version=version)
