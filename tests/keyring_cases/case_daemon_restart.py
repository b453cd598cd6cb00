"""Run by tests/test_keyring_care.py only (its name keeps pytest from collecting it in
the suite): the keyring daemon is killed in the first test; the second must still work."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from keyring_care import session_daemon

from closeplan_desktop.core.store import workspace


def test_a_kill(tmp_path: Path) -> None:
    workspace.create(tmp_path / "a").close()
    pid = session_daemon()  # this session's: never another run's
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # gone (a zombie of dbus-daemon's at most) before the next test



def test_b_after(tmp_path: Path) -> None:
    workspace.create(tmp_path / "b").close()
    workspace.open_workspace(tmp_path / "b").close()
