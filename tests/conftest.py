"""Shared fixtures: real SQLCipher workspaces, keys in the real Secret Service keyring.

Run the suite with tests/run.sh: it starts a private D-Bus session and gnome-keyring.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring_care
import pytest
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    Env,
    run_cli,
    use_system_policy,
)

from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth, users


def pytest_configure(config: pytest.Config) -> None:
    name = type(keyring.get_keyring()).__module__
    if "SecretService" not in name:
        pytest.exit("The tests need the real Secret Service keyring: run them with "
                    "'bash tests/run.sh'.", returncode=3)


@pytest.fixture(autouse=True, scope="module")
def _keyring_housekeeping() -> Iterator[None]:
    """The keys a test module put in the run's keyring are deleted after it (a big
    keyring makes every write slower)."""
    before = keyring_care.entries()
    yield
    keyring_care.forget_new_entries(before)


@pytest.fixture(autouse=True)
def _keyring_unlocked() -> None:
    """A keyring locked by a restarted daemon is unlocked again before the next test,
    with a warning in the summary (not a test failure that is no test's fault)."""
    said = keyring_care.ensure_unlocked()
    if said:
        warnings.warn(UserWarning(said), stacklevel=1)


@pytest.fixture(autouse=True)
def _policy(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system policy with a low bcrypt cost so the suite stays fast (tests that need
    the default cost write their own). It is set from code: the environment variable may
    only add to the system policy (issue 13, finding 4)."""
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    path.write_text(json.dumps({"bcrypt_cost": 4}))
    use_system_policy(monkeypatch, path)
    monkeypatch.delenv("CLOSEPLAN_POLICY_FILE", raising=False)
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("CLOSEPLAN_HOME", raising=False)
    return path


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A workspace with a tenant, its admin and one USER, both signed in."""
    path = tmp_path / "ws"
    ws = workspace.create(path)
    tenant_id, _ = users.create_tenant(ws, "Acme Health", "acme-health.example", ADMIN_EMAIL,
                                       "Ada", "Admin", ADMIN_PASSWORD)
    admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
    users.add_user(admin, USER_EMAIL, "Bob", "Sales", "USER", USER_PASSWORD)
    user = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
    try:
        yield Env(ws, path, tenant_id, admin, user)
    finally:
        ws.close()


@pytest.fixture
def cli_ws(tmp_path: Path) -> Path:
    """A workspace made with 'closeplan-admin init' (closed again)."""
    path = tmp_path / "cliws"
    r = run_cli("init", "--workspace", path, "--tenant", "Acme Health", "--domain",
                "acme-health.example", "--email", ADMIN_EMAIL, "--first-name", "Ada",
                "--last-name", "Admin", "--password-stdin",
                stdin=f"{ADMIN_PASSWORD}\n")
    assert r.code == 0, r.err
    return path


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--crash-kills", type=int, default=120,
                     help="how many times the crash test kills a writer (default 120)")
