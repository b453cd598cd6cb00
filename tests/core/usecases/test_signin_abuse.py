"""Sign-in abuse: unknown and known emails cost the same work and answer alike; lockout
holds against the right password; disabled users cannot act."""

from __future__ import annotations

import bcrypt
import pytest
from support import USER_EMAIL, USER_PASSWORD, Env

from closeplan_desktop.core.domain.errors import AccountLocked, AuthError
from closeplan_desktop.core.usecases import auth


def test_unknown_known_and_disabled_emails_do_the_same_bcrypt_work(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    costs: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed[4:6]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    answers = []
    for email in (USER_EMAIL, "nobody@acme-health.example"):
        costs.clear()
        with pytest.raises(AuthError) as e:
            auth.sign_in(env.ws, email, "wrong password 123")
        answers.append(str(e.value))
        assert costs == [env.ws.policy.bcrypt_cost]  # one check at the policy's cost
    assert answers[0] == answers[1]


def test_lockout_holds_against_the_right_password_until_it_expires(env: Env) -> None:
    for _ in range(env.ws.policy.lockout_threshold):
        with pytest.raises(AuthError):
            auth.sign_in(env.ws, USER_EMAIL, "wrong password 123")
    for _ in range(3):
        with pytest.raises(AccountLocked):
            auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
