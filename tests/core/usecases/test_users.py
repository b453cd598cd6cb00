"""User management: guard rails, audit of every change, import of server users."""

from __future__ import annotations

import json

import pytest
from support import ADMIN_EMAIL, USER_EMAIL, Env, add_legacy_tenant, sql

from closeplan_desktop.core.domain.enums import UserRole
from closeplan_desktop.core.domain.errors import (
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from closeplan_desktop.core.usecases import auth, users

HASH = "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"


def count(env: Env, query: str, params: tuple[object, ...] = ()) -> int:
    env.ws.engine.dispose()
    return int(sql(env.path, query, params)[0][0])


def test_add_list_and_duplicate(env: Env) -> None:
    u = users.add_user(env.admin, "carol@acme-health.example", "Carol", "Nurse", "USER",
                       "a fine long password")
    assert u.role == UserRole.USER and u.active
    assert {x.email for x in users.list_users(env.admin)} == {
        ADMIN_EMAIL, USER_EMAIL, "carol@acme-health.example"}
    with pytest.raises(ValidationError, match="already exists"):
        users.add_user(env.admin, "CAROL@acme-health.example", "C", "N", "USER",
                       "a fine long password")
    assert count(env, "SELECT count(*) FROM security_events WHERE type='USER_CREATED'") == 3
    assert count(env, "SELECT count(*) FROM outbox WHERE entity='users'") == 3
    # The row keeps no hash (the user's key slot verifies them here); the outbox row
    # carries a bcrypt hash for the server, never the password.
    stored = sql(env.path, "SELECT password FROM users WHERE id=?", (u.id,))[0][0]
    assert stored == ""
    (payload,), = sql(env.path, "SELECT payload FROM outbox WHERE entity_id=?", (u.id,))
    pushed = json.loads(payload)["password"]
    assert pushed.startswith("$2b$") and "fine" not in payload


def test_users_cannot_manage_users(env: Env) -> None:
    with pytest.raises(PermissionDenied, match="administrator"):
        users.list_users(env.user)
    with pytest.raises(PermissionDenied):
        users.add_user(env.user, "x@acme-health.example", "X", "Y", "ADMIN", "long enough pass")
    assert count(env, "SELECT count(*) FROM security_events WHERE type='ACCESS_DENIED'") == 2


def test_last_admin_and_self_deactivation_guards(env: Env) -> None:
    with pytest.raises(PermissionDenied, match="last active administrator"):
        users.set_role(env.admin, env.admin.user_id, "USER")
    with pytest.raises(PermissionDenied, match="your own account"):
        users.deactivate(env.admin, env.admin.user_id)
    users.set_role(env.admin, env.user.user_id, "ADMIN")
    users.deactivate(env.user, env.admin.user_id)  # Bob, now admin, deactivates Ada
    with pytest.raises(PermissionDenied, match="your own account"):
        users.deactivate(env.user, env.user.user_id)
    with pytest.raises(PermissionDenied, match="last active administrator"):
        users.set_role(env.user, env.user.user_id, "USER")
    users.reactivate(env.user, env.admin.user_id)
    users.set_role(env.user, env.user.user_id, "USER")
    assert [u.role for u in users.list_users(env.admin) if u.email == USER_EMAIL] == [
        UserRole.USER]


def test_reset_and_change_password(env: Env) -> None:
    users.reset_password(env.admin, env.user.user_id, "brand new password 1")
    s = auth.sign_in(env.ws, USER_EMAIL, "brand new password 1")
    with pytest.raises(PermissionDenied, match="current password"):
        users.change_password(s, "wrong current!!", "another new password")
    users.change_password(s, "brand new password 1", "another new password")
    auth.sign_in(env.ws, USER_EMAIL, "another new password")
    assert count(env, "SELECT count(*) FROM security_events WHERE type IN "
                      "('PASSWORD_RESET','PASSWORD_CHANGED')") == 2


def test_unknown_or_other_tenant_user_is_missing(env: Env) -> None:
    add_legacy_tenant(env.ws, "Other", None, "eve@other.example", "Eve", "O",
                      "other tenant password")
    eve_id = sql(env.path, "SELECT id FROM users WHERE email='eve@other.example'")[0][0]
    for uid in (eve_id, "c" + "1" * 24, "not-an-id"):
        with pytest.raises(NotFoundError, match="No such user"):
            users.deactivate(env.admin, uid)
    with pytest.raises(NotFoundError):
        users.find_user_id(env.admin, "eve@other.example")


def _line(**over: object) -> str:
    rec = {"id": "ckz1234567890abcdefghijkl", "email": "imp@acme-health.example",
           "firstName": "Imo", "lastName": "Porter", "password": HASH, "role": "USER",
           "createdAt": "2024-05-01T10:00:00.000Z"}
    rec.update(over)
    return json.dumps(rec)


def test_import_keeps_hashes_ids_and_is_all_or_nothing(env: Env) -> None:
    assert users.import_users(env.admin, [_line(), "",
                                          _line(id="ckz1234567890abcdefghijkm",
                                                email="imp2@acme-health.example")]) == 2
    assert auth.sign_in(env.ws, "imp@acme-health.example", "abc").user_id == \
        "ckz1234567890abcdefghijkl"
    before = count(env, "SELECT count(*) FROM users")
    bad_files = [
        [_line(email="new@acme-health.example", id="ckz1234567890abcdefghijkz"), "{broken"],
        [_line(email="new@acme-health.example", id=None, password="plaintext")],
        [_line(email="new@acme-health.example", id=None, tenantId="cother0000000000000000000")],
        [_line(email="new@acme-health.example", id=None, role="ROOT")],
        [_line(email="dup@acme-health.example", id=None), _line(email="dup@acme-health.example",
                                                                 id=None)],
        [_line()],  # already imported
        ["[1,2,3]"],
        [],
    ]
    for lines in bad_files:
        with pytest.raises(ValidationError):
            users.import_users(env.admin, lines)
    assert count(env, "SELECT count(*) FROM users") == before
