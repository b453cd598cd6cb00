"""Sign-in abuse: unknown and known emails cost the same work and answer alike; lockout
holds against the right password; disabled users cannot act."""

from __future__ import annotations

import json
from typing import Any

import bcrypt
import pytest
from support import USER_EMAIL, USER_PASSWORD, Env

from closeplan_desktop.core.domain.errors import AccountLocked, AuthError
from closeplan_desktop.core.security import slots
from closeplan_desktop.core.usecases import auth, users


def test_unknown_known_and_disabled_emails_do_the_same_argon2id_work(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt costs one Argon2id derivation at the slots' parameters (the slot's
    own, or the same work for an unknown or deactivated email), and no bcrypt check."""
    works: list[str] = []
    real = slots._kek

    def counting(ring: bytes, password: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
        works.append(json.dumps(kdf, sort_keys=True))
        return real(ring, password, salt, kdf)

    def no_bcrypt(password: bytes, hashed: bytes) -> bool:
        raise AssertionError("a sign-in against a key slot checks no bcrypt hash")

    monkeypatch.setattr(slots, "_kek", counting)
    monkeypatch.setattr(bcrypt, "checkpw", no_bcrypt)
    other = users.add_user(env.admin, "gone@acme-health.example", "Gil", "Gone", "USER",
                           "a fine long password 77")
    users.deactivate(env.admin, other.id)
    answers = []
    for email in (USER_EMAIL, "nobody@acme-health.example", "gone@acme-health.example"):
        works.clear()
        with pytest.raises(AuthError) as e:
            auth.sign_in(env.ws, email, "wrong password 123")
        answers.append(str(e.value))
        assert works == [json.dumps(slots.kdf_params(), sort_keys=True)]
    assert answers[0] == answers[1] == answers[2]


def test_lockout_holds_against_the_right_password_until_it_expires(env: Env) -> None:
    for _ in range(env.ws.policy.lockout_threshold):
        with pytest.raises(AuthError):
            auth.sign_in(env.ws, USER_EMAIL, "wrong password 123")
    for _ in range(3):
        with pytest.raises(AccountLocked):
            auth.sign_in(env.ws, USER_EMAIL, USER_PASSWORD)
