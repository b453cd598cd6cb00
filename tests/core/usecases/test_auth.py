"""Sign-in: bcrypt, bcryptjs hashes, lockout, rehash, and sessions of deactivated users."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_bcryptjs_2a_hash_verifies_once_and_becomes_a_key_slot(env: Env) -> None:
    """An imported server hash ($2a$, bcryptjs) signs its user in once; that makes their
    key slot and clears the hash: from then on the slot verifies them, and the database
    holds nothing cheaper to crack than Argon2id."""
    assert passwords.check_password(BCRYPTJS_PASSWORD, BCRYPTJS_HASH)
    line = json.dumps({"email": "legacy@acme-health.example", "firstName": "Lee",
                       "lastName": "Gacy", "password": BCRYPTJS_HASH, "role": "USER",
                       "tenantId": env.tenant_id})
    users.import_users(env.admin, [line])
    auth.sign_in(env.ws, "legacy@acme-health.example", BCRYPTJS_PASSWORD)
    env.ws.engine.dispose()
    (uid, stored), = sql(env.path, "SELECT id, password FROM users WHERE email=?",
                         ("legacy@acme-health.example",))
    assert stored == ""
    assert sql(env.path, "SELECT count(*) FROM key_slots WHERE user_id=?", (uid,)) == [(1,)]
    assert events(env, "KEY_SLOT_CREATED") == 1
    # The slot verifies the next sign-in, and refuses a wrong password.
    auth.sign_in(env.ws, "legacy@acme-health.example", BCRYPTJS_PASSWORD)
    with pytest.raises(AuthError):
        auth.sign_in(env.ws, "legacy@acme-health.example", "abd")
    assert events(env, "KEY_SLOT_CREATED") == 1


def test_no_local_hash_and_no_slot_says_sign_in_online_once(env: Env) -> None:
    """A user row that came without a hash (the server's pull omits them) is a valid user
    who can sign in only where a slot exists, with a message saying what to do."""
    line = json.dumps({"email": "pulled@acme-health.example", "firstName": "Pia",
                       "lastName": "Pulled", "password": BCRYPTJS_HASH, "role": "USER",
                       "tenantId": env.tenant_id})
    users.import_users(env.admin, [line])
    sql(env.path, "UPDATE users SET password='' WHERE email='pulled@acme-health.example'")
    with pytest.raises(AuthError, match="sign in online once on this laptop, or ask an "
                                        "admin to reset your password"):
        auth.sign_in(env.ws, "pulled@acme-health.example", BCRYPTJS_PASSWORD)
    uid = users.find_user_id(env.admin, "pulled@acme-health.example")
    users.reset_password(env.admin, uid, "Another long pass 9182")
    assert auth.sign_in(env.ws, "pulled@acme-health.example",
                        "Another long pass 9182").user_id == uid


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
