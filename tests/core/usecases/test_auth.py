"""Sign-in: bcrypt, bcryptjs hashes, lockout, rehash, and sessions of deactivated users."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt
import pytest
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    Env,
    sql,
    use_system_policy,
)

from closeplan_desktop.core.domain.errors import (
    AccountLocked,
    AuthError,
    PermissionDenied,
    ValidationError,
)
from closeplan_desktop.core.security import passwords
from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth, deal_list, deals, users

# A bcrypt test vector in the $2a$ form that bcryptjs (the ClosePlan server) writes.
BCRYPTJS_HASH = "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"
BCRYPTJS_PASSWORD = "abc"


def events(env: Env, type_: str) -> int:
    env.ws.engine.dispose()
    return sql(env.path, "SELECT count(*) FROM security_events WHERE type=?", (type_,))[0][0]


def test_sign_in_success_is_logged(env: Env) -> None:
    before = events(env, "LOGIN_SUCCESS")
    s = auth.sign_in(env.ws, "  ADA@acme-health.example ", ADMIN_PASSWORD)
    assert s.is_admin and s.tenant_id == env.tenant_id
    assert events(env, "LOGIN_SUCCESS") == before + 1


def test_unknown_email_and_wrong_password_answer_alike(env: Env) -> None:
    with pytest.raises(AuthError) as wrong:
        auth.sign_in(env.ws, ADMIN_EMAIL, "not the password!")
    with pytest.raises(AuthError) as unknown:
        auth.sign_in(env.ws, "nobody@acme-health.example", "not the password!")
    assert str(wrong.value) == str(unknown.value) == auth.BAD_CREDENTIALS
    assert events(env, "LOGIN_FAILURE") == 2


def test_lockout_after_threshold_for_known_and_unknown_emails(env: Env) -> None:
    for email in (USER_EMAIL, "ghost@acme-health.example"):
        for _ in range(4):
            with pytest.raises(AuthError) as e:
                auth.sign_in(env.ws, email, "wrong password here")
            assert not isinstance(e.value, AccountLocked)
        with pytest.raises(AccountLocked, match="Try again in 15 minutes"):
            auth.sign_in(env.ws, email, "wrong password here")
    # Locked: even the right password is refused, with the same text as for unknown emails.
    with pytest.raises(AccountLocked) as known:
        auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    with pytest.raises(AccountLocked) as ghost:
        auth.sign_in(env.ws, "ghost@acme-health.example", USER_PASSWORD)
    assert str(known.value) == str(ghost.value)
    assert events(env, "LOCKOUT") == 2
    assert events(env, "LOGIN_LOCKED") == 2


def test_lockout_expires(env: Env) -> None:
    for _ in range(5):
        with pytest.raises(AuthError):
            auth.sign_in(env.ws, USER_EMAIL, "wrong password here")
    env.ws.engine.dispose()
    sql(env.path, "UPDATE login_throttle SET locked_until='2000-01-01T00:00:00.000000Z', "
                  "last_failure_at='2000-01-01T00:00:00.000000Z'")
    assert auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD).email == USER_EMAIL


def test_over_72_bytes_is_refused_not_cut(env: Env) -> None:
    long = ADMIN_PASSWORD + "x" * 60  # the first 72 bytes would not match anyway
    with pytest.raises(ValidationError, match="72 bytes"):
        auth.sign_in(env.ws, ADMIN_EMAIL, long)
    with pytest.raises(ValidationError, match="72 bytes"):
        users.add_user(env.admin, "long@acme-health.example", "L", "P", "USER", "é" * 37)


def test_bcryptjs_2a_hash_verifies_and_is_rehashed_at_policy_cost(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert passwords.check_password(BCRYPTJS_PASSWORD, BCRYPTJS_HASH)
    line = json.dumps({"email": "legacy@acme-health.example", "firstName": "Lee",
                       "lastName": "Gacy", "password": BCRYPTJS_HASH, "role": "USER",
                       "tenantId": env.tenant_id})
    users.import_users(env.admin, [line])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"bcrypt_cost": 10}))
    use_system_policy(monkeypatch, policy)
    env.ws.policy = load_policy()
    auth.sign_in(env.ws, "legacy@acme-health.example", BCRYPTJS_PASSWORD)
    env.ws.engine.dispose()
    stored = sql(env.path, "SELECT password FROM users WHERE email=?",
                 ("legacy@acme-health.example",))[0][0]
    assert stored.startswith("$2b$10$")
    assert bcrypt.checkpw(b"abc", stored.encode())
    assert events(env, "PASSWORD_REHASHED") == 1
    # And the new hash works for the next sign-in without another rehash.
    auth.sign_in(env.ws, "legacy@acme-health.example", BCRYPTJS_PASSWORD)
    assert events(env, "PASSWORD_REHASHED") == 1


def test_default_policy_cost_is_10(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_system_policy(monkeypatch, tmp_path / "none.json")
    policy = load_policy()
    assert policy.bcrypt_cost == 10
    assert passwords.hash_cost(passwords.hash_password("x" * 12, policy.bcrypt_cost)) == 10


def test_deactivated_user_cannot_sign_in_or_act_with_an_old_session(env: Env) -> None:
    d = deals.create_deal(env.user, "Bob's deal", "ACTIVE", "10.00")
    users.deactivate(env.admin, env.user.user_id)
    with pytest.raises(AuthError, match="incorrect"):
        auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
    with pytest.raises(PermissionDenied, match="no longer active"):
        deal_list.list_deals(env.user)
    with pytest.raises(PermissionDenied, match="no longer active"):
        deals.reveal_phi(env.user, d.id)
    assert events(env, "ACCESS_DENIED") == 2


def test_role_change_applies_to_open_sessions(env: Env) -> None:
    users.set_role(env.admin, env.user.user_id, "ADMIN")
    assert len(users.list_users(env.user)) == 2  # the old USER session now acts as ADMIN
    users.set_role(env.admin, env.user.user_id, "USER")
    with pytest.raises(PermissionDenied, match="administrator"):
        users.list_users(env.user)


def test_reopened_workspace_signs_in(env: Env) -> None:
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        assert auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD).email == ADMIN_EMAIL
