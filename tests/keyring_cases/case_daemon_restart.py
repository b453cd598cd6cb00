"""Run by tests/test_keyring_care.py only (its name keeps pytest from collecting it in
the suite): the keyring daemon is killed in the first test; the second must still work."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from closeplan_desktop.core.store import workspace


def test_a_kill(tmp_path: Path) -> None:
    workspace.create(tmp_path / "a").close()
    pids = subprocess.run(["pgrep", "-f", "gnome-keyring-daemon"], capture_output=True,
                          text=True).stdout.split()
    assert pids
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)


def test_b_after(tmp_path: Path) -> None:
    workspace.create(tmp_path / "b").close()
    workspace.open_workspace(tmp_path / "b").close()
