"""A tenant made from an existing standalone workspace (issue 12, "Connect").

The workspace's admin sends its tenant, users and PHI key versions (`adopt_tenant`, one
transaction, authorised by a setup code: the dev server's printed code or a one-time code
an operator issued, the authority of `create-tenant`). The server KEEPS the workspace's
tenant, user and deal ids: the PHI envelopes bind tenant id, deal id and key version, so
nothing is re-encrypted. The admin's password is hashed here from the one they connect
with; another user keeps the bcrypt hash the workspace still had for sync (its
outbox), and a user without one gets `RESET_REQUIRED`, which no password matches: they
cannot sign in online until an admin resets their password (on any laptop; the reset
is pushed as usual) and keep signing in offline on the laptops where they have a slot.

While `tenants.adopting` is set, that admin's approved device uploads the deals
(`import_deals`: ids, owners, times and tombstones kept, PHI envelopes checked for shape
and key version only, never opened; idempotent, so a broken upload is sent again), and
`finish` closes the import for good. The workspace's audit rows come through the normal
audit upload. No access-log row is written here: the laptop's own rows, uploaded,
already record who created and changed these deals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..core.domain import validation
from ..core.domain.enums import SecurityEventType
from ..core.domain.errors import CryptoError, ValidationError
from ..core.domain.ids import is_id
from ..core.security.passwords import hash_password, require_strong
from .caller import Caller
from .db.pool import Connection, Database
from .errors import ApiError, bad_request, conflict, forbidden
from .events import record_event
from .sync import push_deals, push_users
from .sync.outcome import Rejected
from .tenants import ADMIN_COST, MIN_PASSWORD, NewTenant

# Not a bcrypt hash: `check_password` answers False, so the user must be reset by an admin.
RESET_REQUIRED = "!reset-by-admin"  # a marker, not a secret
KEY_STATES = ("ACTIVE", "DECRYPT_ONLY", "RETIRED")
MAX_USERS = 5000
MAX_DEALS = 1000  # per import request
CONSTRAINTS = {
    "tenants_pkey": ("tenant_exists", "An organisation with this workspace's id already "
                     "exists on this server: connect to it (sign in online) instead."),
    "email_directory_pkey": ("email_taken", "An email of this workspace's users already "
                             "belongs to an account on this server; change that user's "
                             "email in the workspace, then connect again."),
    "users_tenant_email_key": ("email_taken", "Two users of this workspace share an "
                               "email; fix it in the workspace, then connect again."),
}


def _bad(field: str, message: str) -> ApiError:
    return bad_request("invalid_field", message, field=field)


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field, f"{field} must be an ISO 8601 time.") from None
    if parsed.tzinfo is None:
        raise _bad(field, f"{field} must name its time zone (UTC).")
    return parsed


def _id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not is_id(value):
        raise _bad(field, f"{field} must be an id made by ClosePlan.")
    return value


def _users(users: list[dict[str, Any]], admin_id: str) -> list[tuple[Any, ...]]:
    """The users' rows to insert (the admin's hash is set by the caller), checked by the
    rules push applies to a user made on a laptop."""
    if not 1 <= len(users) <= MAX_USERS:
        raise _bad("users", f"A workspace sends between 1 and {MAX_USERS} users.")
    rows, ids, emails = [], set(), set()
    for n, user in enumerate(users):
        where = f"users.{n}"
        user_id = _id(user.get("id"), f"{where}.id")
        try:
            clean = push_users.clean_fields({k: user.get(k) for k in
                                             ("email", "first_name", "last_name", "role")})
        except Rejected as exc:
            raise _bad(where, f"{where}: {exc.message}") from None
        if user_id in ids or clean["email"] in emails:
            raise _bad(where, f"{where}: the id or email appears twice.")
        ids.add(user_id)
        emails.add(clean["email"])
        hashed = user.get("password_hash")
        usable = isinstance(hashed, str) and (m := push_users.BCRYPT_RE.fullmatch(hashed)) \
            is not None and int(m.group(1)) in push_users.BCRYPT_COSTS
        deactivated = _time(user.get("deactivated_at"), f"{where}.deactivated_at")
        if user_id == admin_id and (clean["role"] != "ADMIN" or deactivated is not None):
            raise forbidden("not_admin", "Only an active administrator of the workspace can "
                            "create the organisation from it.")
        rows.append((user_id, clean["email"], clean["first_name"], clean["last_name"],
                     hashed if usable else RESET_REQUIRED, clean["role"],
                     _time(user.get("created_at"), f"{where}.created_at"), deactivated))
    if admin_id not in ids:
        raise _bad("admin_id", "admin_id must be one of the workspace's users.")
    return rows


def _keys(keys: list[dict[str, Any]]) -> list[tuple[int, str]]:
    versions = []
    for n, key in enumerate(keys):
        version, state = key.get("version"), key.get("state")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1 \
                or state not in KEY_STATES:
            raise _bad(f"phi_keys.{n}", "Each PHI key names a version (1 or more) and a "
                       "state (ACTIVE, DECRYPT_ONLY, RETIRED).")
        versions.append((version, str(state)))
    if len({v for v, _ in versions}) != len(versions) \
            or [s for _, s in versions].count("ACTIVE") != 1:
        raise _bad("phi_keys", "The workspace sends each PHI key version once, exactly one "
                   "of them ACTIVE.")
    return versions


def adopt_tenant(db: Database, body: dict[str, Any], password: str,
                 take_code: bytes | None) -> NewTenant:
    """Create the tenant of a standalone workspace with its own ids, its users and PHI key
    versions, marked `adopting`; in one transaction, which first takes the operator's
    one-time code whose hash is `take_code` (None: the caller checked the dev server's
    code). ApiError: 400 bad input, 401 a code that is not live, 403 not an admin, 409
    the tenant or an email exists already; nothing is written then."""
    tenant = body.get("tenant") or {}
    admin_id = _id(body.get("admin_id"), "admin_id")
    tenant_id = _id(tenant.get("id"), "tenant.id")
    try:
        name = validation.text(tenant.get("name"), "Organisation name",
                               max_len=validation.MAX_NAME)
        domain = validation.domain(tenant.get("domain"))
    except ValidationError as e:
        raise bad_request("invalid_field", str(e)) from None
    users = _users(list(body.get("users") or []), admin_id)
    keys = _keys(list(body.get("phi_keys") or []))
    admin = next(u for u in users if u[0] == admin_id)
    try:
        secret = validation.password(password, MIN_PASSWORD)
        require_strong(secret, (admin[1], admin[2], admin[3], name))
    except ValidationError as e:
        raise bad_request("invalid_field", f"{e} Change your password in the workspace "
                          "first, then connect again.") from None
    hashed = hash_password(secret, ADMIN_COST)
    rows = [(*u[:4], hashed if u[0] == admin_id else u[4], *u[5:]) for u in users]
    try:
        with db.transaction(tenant_id, admin_id) as conn:
            if take_code is not None:
                taken = conn.execute("SELECT take_setup_code(%s, %s)",
                                     (take_code, tenant_id)).fetchone()
                if not taken or not taken[0]:
                    raise wrong_code()
            conn.execute("INSERT INTO tenants (id, name, domain, adopting) "
                         "VALUES (%s, %s, %s, true)", (tenant_id, name, domain))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO users (tenant_id, id, email, first_name, last_name, "
                    "password, role, created_at, deactivated_at) VALUES (current_tenant_id(), "
                    "%s, %s, %s, %s, %s, %s::user_role, coalesce(%s, now()), %s)", rows)
                cur.executemany("INSERT INTO phi_keys (tenant_id, version, state) VALUES "
                                "(current_tenant_id(), %s, %s::phi_key_state)", keys)
            record_event(conn, SecurityEventType.TENANT_CREATED, admin_id, via="workspace",
                         users=len(rows), phi_keys=len(keys))
    except psycopg.errors.UniqueViolation as exc:
        code, message = CONSTRAINTS.get(exc.diag.constraint_name or "", (
            "exists", "Something of this workspace already exists on this server."))
        raise conflict(code, message) from None
    return NewTenant(tenant_id, admin_id)


def wrong_code() -> ApiError:
    """The refusal of a setup code that is wrong, used or expired."""
    return ApiError(401, "wrong_code", "The setup code is wrong, used or expired: ask the "
                    "server's operator for a new one (closeplan-server setup-code).")


def _adopting(conn: Connection, who: Caller) -> None:
    who.require_admin()
    row = conn.execute("SELECT adopting FROM tenants WHERE id = %s FOR UPDATE",
                       (who.tenant_id,)).fetchone()
    if row is None or not row[0]:
        raise conflict("adoption_closed", "This organisation is not being created from a "
                       "workspace (or that is finished): sync instead.")


def _deal(n: int, deal: dict[str, Any], known: dict[int, str]) -> tuple[Any, ...]:
    where = f"deals.{n}"
    deal_id = _id(deal.get("id"), f"{where}.id")
    try:
        title = validation.title(deal.get("title"))
        status = validation.status(deal.get("status")).value
        value = push_deals._money(deal.get("value"))
        close = validation.close_date(deal.get("expected_close_date"))
        chance = validation.probability(deal.get("probability"))
    except ValidationError as exc:
        raise _bad(where, f"{where}: {exc}") from None
    envelope, version = deal.get("phi"), deal.get("phi_key_version")
    if envelope is not None or version is not None:
        if not isinstance(envelope, str) or not isinstance(version, int) \
                or version not in known:
            raise _bad(where, f"{where}: PHI needs an envelope and one of this "
                       "organisation's key versions.")
        try:
            push_deals.check_envelope(envelope, version)
        except CryptoError as exc:
            raise _bad(where, f"{where}: {exc}") from None
    creator = _id(deal.get("created_by_id"), f"{where}.created_by_id")
    # A workspace before issue 15 sends no owner: its creator owns the deal.
    owner = creator if deal.get("owner_id") is None else _id(deal.get("owner_id"),
                                                            f"{where}.owner_id")
    return (deal_id, title, status, value, envelope, version, creator,
            _time(deal.get("created_at"), f"{where}.created_at"),
            _time(deal.get("updated_at"), f"{where}.updated_at"),
            _time(deal.get("deleted_at"), f"{where}.deleted_at"), owner, close, chance)


def import_deals(db: Database, who: Caller, deals: list[dict[str, Any]]) -> int:
    """Store a batch of the workspace's deals as they are there (ids, owners, times,
    tombstones, PHI envelopes), while the tenant is being adopted; a deal sent again
    (a resumed upload) takes the values sent last. All or nothing per batch."""
    if not 1 <= len(deals) <= MAX_DEALS:
        raise _bad("deals", f"Send between 1 and {MAX_DEALS} deals per request.")
    with db.transaction(who.tenant_id, who.user_id) as conn:
        _adopting(conn, who)
        known = dict(conn.execute("SELECT version, state::text FROM phi_keys WHERE "
                                  "tenant_id = %s", (who.tenant_id,)).fetchall())
        rows = [_deal(n, d, known) for n, d in enumerate(deals)]
        if len({r[0] for r in rows}) != len(rows):
            raise _bad("deals", "A deal appears twice in this batch.")
        cols: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
        devices = Jsonb(dict.fromkeys(push_deals.GROUPS, who.device_id))
        try:
            conn.execute(
                "INSERT INTO deals (tenant_id, id, title, status, value, phi, phi_key_version, "
                "created_by_id, created_at, updated_at, deleted_at, owner_id, "
                "expected_close_date, probability, field_devices) "
                "SELECT %s, i, t, s::deal_status, v, p::json, k, c, coalesce(ca, now()), "
                "coalesce(ua, now()), da, ow, cd, pr, %s FROM unnest(%s::text[], %s::text[], "
                "%s::text[], %s::numeric[], %s::text[], %s::integer[], %s::text[], "
                "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::text[], "
                "%s::date[], %s::smallint[]) AS n(i, t, s, v, p, k, c, ca, ua, da, ow, cd, pr) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET title = excluded.title, "
                "status = excluded.status, value = excluded.value, phi = excluded.phi, "
                "phi_key_version = excluded.phi_key_version, "
                "created_by_id = excluded.created_by_id, updated_at = excluded.updated_at, "
                "deleted_at = excluded.deleted_at, owner_id = excluded.owner_id, "
                "expected_close_date = excluded.expected_close_date, "
                "probability = excluded.probability",
                (who.tenant_id, devices, *cols))
        except psycopg.errors.ForeignKeyViolation:
            raise _bad("deals", "A deal names an owner who is not one of this "
                       "organisation's users.") from None
        except psycopg.errors.UniqueViolation:
            raise _bad("deals", "Two deals carry the same PHI envelope; save one of them "
                       "again in the workspace to seal its PHI anew.") from None
    return len(rows)


def finish(db: Database, who: Caller) -> dict[str, Any]:
    """Close the deals import of an adopted tenant for good; the tenant is then an
    ordinary one. Returns how many deals it holds."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        _adopting(conn, who)
        conn.execute("UPDATE tenants SET adopting = false WHERE id = %s", (who.tenant_id,))
        row = conn.execute("SELECT count(*) FROM deals WHERE tenant_id = %s",
                           (who.tenant_id,)).fetchone()
        deals = int(row[0]) if row else 0
        record_event(conn, push_users.TENANT_UPDATED, who.user_id, adoption="finished",
                     deals=deals)
    return {"deals": deals}


def issue_code(db: Database, code_hash: bytes, hours: int) -> datetime:
    """Keep the hash of an operator's one-time setup code, valid `hours`; its expiry."""
    with db.transaction(None) as conn:
        row = conn.execute("SELECT issue_setup_code(%s, %s)", (code_hash, hours)).fetchone()
    assert row is not None
    expires: datetime = row[0]
    return expires

