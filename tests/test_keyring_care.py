"""The suite survives its keyring daemon dying, and does not let the keyring grow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keyring_care

from closeplan_desktop.core.store import workspace

ROOT = Path(__file__).resolve().parents[1]


def test_a_killed_keyring_daemon_is_unlocked_again_for_the_next_test() -> None:
    # In a D-Bus session and keyring of its own: the daemon is killed for real, and only
    # that one (this run's daemon stays).
    ours = keyring_care.session_daemon()
    out = subprocess.run(
        ["dbus-run-session", "--", "packaging/with-keyring.sh", sys.executable, "-m", "pytest",
         "-p", "no:cacheprovider", "-q", "tests/keyring_cases/case_daemon_restart.py"],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert "2 passed" in out.stdout, out.stdout[-3000:]
    assert "was unlocked again" in out.stdout
    assert keyring_care.session_daemon() == ours


def test_a_modules_keys_are_deleted_after_it(tmp_path: Path) -> None:
    before = keyring_care.entries()
    workspace.create(tmp_path / "ws").close()
    made = keyring_care.entries() - before
    assert made, "the workspace put its keys in the keyring"
    assert keyring_care.forget_new_entries(before) == len(made)
    assert keyring_care.entries() == before
