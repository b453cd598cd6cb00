"""Process hardening: no core dumps, no secrets in logs or exception texts."""

from __future__ import annotations

import io
import logging
import resource

import pytest
from support import Env

from closeplan_desktop.cli.context import Passwords
from closeplan_desktop.core.domain.errors import ValidationError
from closeplan_desktop.core.security import crypto, hardening


def test_core_dumps_are_off_once_a_workspace_is_open(env: Env) -> None:
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)


def test_log_filter_redacts_secret_and_phi_shaped_values() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("closeplan-test-redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    hardening.install_log_redaction(logger)
    envelope = crypto.encrypt_phi(crypto.new_key(), 1, "t", "d", {"mrn": "M-1"})
    key = crypto.new_key().hex()
    bhash = "$2b$10$" + "a" * 53
    try:
        logger.warning("failed: %s %s %s patient jane.doe@example.org x'%s'", envelope, key,
                       bhash, key[:32])
        try:
            raise ValueError(f"bound value {envelope}")
        except ValueError:
            logger.exception("with traceback")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for needle in (envelope, key, bhash, "jane.doe@example.org", key[:32], "Traceback"):
        assert needle not in text
    assert text.count("[redacted]") >= 4 and "[ValueError]" in text


def test_database_errors_hide_bound_values(env: Env) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError) as e, env.ws.engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at, updated_at) VALUES "
                          "(:id, :n, 'x', 'x')"), {"id": env.tenant_id, "n": "SECRET-NAME"})
    assert "SECRET-NAME" not in str(e.value)


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_password_is_confirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["first entry!!", "second entry!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    with pytest.raises(ValidationError, match="differ"):
        Passwords(False, FakeTty()).ask("New password", confirm=True)
    answers = iter(["same entry!!", "same entry!!"])
    assert Passwords(False, FakeTty()).ask("New password", confirm=True) == "same entry!!"
