"""The installation self-test: core.selftest in-process, and `closeplan-desktop
--self-test` as installed in the virtual environment (a subprocess, like IT runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import secretstorage

from closeplan_desktop.core.domain.errors import ClosePlanError
from closeplan_desktop.core.security.keyring_store import SERVICE
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.tools import selftest
from closeplan_desktop.core.usecases import deals

GUI = Path(sys.executable).parent / "closeplan-desktop"


def keyring_names() -> set[str]:
    """Every ClosePlan entry name (workspace:ID:slot) in the session's Secret Service."""
    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        return {item.get_attributes().get("username", "")
                for item in collection.search_items({"service": SERVICE})}
    finally:
        conn.close()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Temp folders go under tmp_path; remembers the id of the workspace the test makes."""
    seen: dict[str, str] = {}
    real_create = workspace.create

    def create(path: Path) -> workspace.Workspace:
        ws = real_create(path)
        seen["workspace_id"] = ws.workspace_id
        return ws

    monkeypatch.setattr(workspace, "create", create)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return seen


def assert_clean(tmp_path: Path, workspace_id: str) -> None:
    assert not list(tmp_path.glob("closeplan-selftest-*")), "the workspace folder is left"
    left = {n for n in keyring_names() if n.startswith(f"workspace:{workspace_id}:")}
    assert not left, f"keyring entries left: {left}"


def test_self_test_passes_and_leaves_nothing(spy: dict[str, str], tmp_path: Path) -> None:
    reported: list[str] = []
    extra_seen: list[Path] = []

    def extra(ws: workspace.Workspace) -> str:
        extra_seen.append(ws.path)
        assert ws.path.is_dir()  # runs before the cleanup
        return "extra check"

    steps = selftest.run_self_test(extra=extra, report=reported.append)
    assert steps == reported
    assert len(steps) == 10
    assert "created a throwaway workspace" in steps[0]
    assert any("revealed the PHI" in s for s in steps)
    assert any("verified the audit chain" in s for s in steps)
    assert any("in worker processes" in s for s in steps)
    assert any("HPKE key grant" in s and "HTTPS client" in s for s in steps)
    assert steps[-2] == "extra check"
    assert "removed the workspace folder and its keyring entries" in steps[-1]
    assert extra_seen and not extra_seen[0].exists()
    # The keys were really in the keyring during the run, and are gone now.
    assert_clean(tmp_path, spy["workspace_id"])


def test_a_failed_step_names_itself_and_still_cleans_up(
        spy: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deals, "reveal_phi", lambda *a, **k: {"mrn": "wrong"})
    with pytest.raises(ClosePlanError) as info:
        selftest.run_self_test()
    assert str(info.value).startswith("Self-test failed at 'reveal the PHI'")
    assert "differs" in str(info.value)
    assert_clean(tmp_path, spy["workspace_id"])


def test_a_library_error_becomes_a_clear_error(
        spy: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("sqlcipher said no to x'" + "ab" * 32 + "'")

    monkeypatch.setattr(deals, "create_deal", broken)
    with pytest.raises(ClosePlanError) as info:
        selftest.run_self_test()
    text = str(info.value)
    assert text.startswith("Self-test failed at 'add a deal with PHI': RuntimeError")
    assert "ab" * 32 not in text  # secret-shaped values are redacted
    assert_clean(tmp_path, spy["workspace_id"])


def test_random_password_fits_the_policy() -> None:
    for length in (8, 12, 24, 72):
        pw = selftest.random_password(length)
        assert len(pw) == length and len(pw.encode()) <= 72
        assert any(c.isupper() for c in pw) and any(c.isdigit() for c in pw)
    assert selftest.random_password(24) != selftest.random_password(24)


def _run_gui(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GUI), "--self-test"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.skipif(not GUI.exists(), reason="closeplan-desktop is not installed in the venv")
def test_closeplan_desktop_self_test_command(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path))
    before = keyring_names()
    r = _run_gui(env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("closeplan-desktop ") and lines[0].endswith("self-test")
    assert any("built the sign-in window (Qt platform 'offscreen'" in ln for ln in lines)
    assert any("short amounts with Babel's locale data" in ln for ln in lines)
    assert lines[-1] == "Self-test passed."
    assert sum(ln.startswith("  ok  ") for ln in lines) == 10
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.glob("closeplan-selftest-*"))
    assert keyring_names() == before


@pytest.mark.skipif(not GUI.exists(), reason="closeplan-desktop is not installed in the venv")
def test_self_test_command_without_a_keyring_fails_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env.update(QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path),
               DBUS_SESSION_BUS_ADDRESS="unix:path=" + str(tmp_path / "no-bus"))
    r = _run_gui(env)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    assert err[0].startswith("closeplan-desktop: Self-test failed at 'create the workspace'")
    assert "keyring" in err[0].lower()
    assert "Traceback" not in r.stderr
    assert not list(tmp_path.glob("closeplan-selftest-*"))


def test_a_failing_extra_check_is_named_and_cleaned_up(spy: dict[str, str],
                                                       tmp_path: Path) -> None:
    def extra(ws: workspace.Workspace) -> str:
        raise ClosePlanError("Qt's SVG image plugin is missing.")

    with pytest.raises(ClosePlanError) as info:
        selftest.run_self_test(extra=extra, extra_name="build the sign-in window (Qt)")
    assert str(info.value) == ("Self-test failed at 'build the sign-in window (Qt)': Qt's SVG "
                               "image plugin is missing.")
    assert_clean(tmp_path, spy["workspace_id"])
