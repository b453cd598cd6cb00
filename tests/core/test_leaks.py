"""Leak scan: PHI marked with unique strings is stored, revealed, exported and copied; then
the workspace, temporary folders, settings, logs, crash output and the clipboard are
searched for the markers in plain text, UTF-16 and base64."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot
from support import ADMIN_EMAIL, ADMIN_PASSWORD, run_cli

MARKERS = {
    "patient_name": "Zyxwquorth Plimbleton",
    "mrn": "MRN-LEAK-7Q9X2K",
    "diagnosis": "Q99.LEAKMARK unobtainium syndrome",
    "notes": "note-marker-3b1f5c9e-do-not-leak",
}


def needles(text: str) -> list[bytes]:
    raw = text.encode()
    found = [raw, text.encode("utf-16-le"), text.encode("utf-16-be")]
    for pad in range(3):  # base64 of the marker at each alignment in a longer text
        enc = base64.b64encode(b"x" * pad + raw)
        found.append(enc[4 * ((pad + 2) // 3): -4])
    return found


def scan(roots: list[Path], skip: set[Path]) -> list[str]:
    hits = []
    patterns = [(name, n) for name, value in MARKERS.items() for n in needles(value)]
    for root in roots:
        if not root.exists():
            continue
        for f in root.rglob("*"):
            if not f.is_file() or f in skip or f.is_symlink():
                continue
            try:
                data = f.read_bytes()
            except OSError:
                continue
            for name, n in patterns:
                if n in data:
                    hits.append(f"{name} in {f}")
    return hits


@pytest.fixture
def fresh_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TMPDIR, so that every temporary file of the scenario is scanned."""
    t = tmp_path / "tmpdir"
    t.mkdir()
    monkeypatch.setenv("TMPDIR", str(t))
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    yield t


def test_no_phi_outside_the_encrypted_database(tmp_path: Path, fresh_tmp: Path,
                                               qtbot: QtBot) -> None:
    from closeplan_desktop.core.store import workspace
    from closeplan_desktop.core.usecases import auth
    from closeplan_desktop.ui.main_window import MainWindow
    from closeplan_desktop.ui.signed_in import SignedIn

    ws_path = tmp_path / "ws"
    log = tmp_path / "cli-output.log"
    outputs: list[str] = []

    def cli(*args: object, stdin: str = ADMIN_PASSWORD + "\n") -> str:
        r = run_cli(*args, stdin=stdin)
        outputs.append(r.out + r.err)
        assert r.code == 0, r.err
        return r.out

    cli("init", "--workspace", ws_path, "--tenant", "Leak Test Clinic", "--email",
        ADMIN_EMAIL, "--first-name", "Ada", "--last-name", "Admin", "--password-stdin")
    import json

    deal_id = cli("deals", "add", "--workspace", ws_path, "--as", ADMIN_EMAIL,
                  "--password-stdin", "--title", "Leak scan deal", "--status", "ACTIVE",
                  "--value", "10", "--phi-stdin",
                  stdin=ADMIN_PASSWORD + "\n" + json.dumps(MARKERS) + "\n").strip()
    shown = cli("deals", "show", deal_id, "--phi", "--workspace", ws_path, "--as",
                ADMIN_EMAIL, "--password-stdin")
    assert MARKERS["mrn"] in shown  # the user asked to see it on the terminal
    outputs.remove(shown)
    exports = tmp_path / "exports"
    exports.mkdir()
    for fmt in ("csv", "fhir"):
        cli("audit", "export", "--format", fmt, "--output", exports / f"a.{fmt}",
            "--workspace", ws_path, "--as", ADMIN_EMAIL, "--password-stdin")
    cli("keys", "export-kit", exports / "kit.json", "--workspace", ws_path, "--as",
        ADMIN_EMAIL, "--password-stdin", stdin=ADMIN_PASSWORD + "\nkit passphrase 123\n")
    cli("keys", "rotate-phi", "--workspace", ws_path, "--as", ADMIN_EMAIL, "--password-stdin")
    cli("doctor", "--workspace", ws_path)
    # The window: reveal, copy to the clipboard, wait for it to be cleared, lock.
    with workspace.open_workspace(ws_path) as ws:
        window = MainWindow(SignedIn(ws, auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)))
        qtbot.addWidget(window)
        window.show()
        window.deals.refresh()
        window.deals.table.selectRow(0)
        window.deals.detail.reveal()
        window.deals.detail.copy_field("mrn")
        assert QGuiApplication.clipboard().text() == MARKERS["mrn"]
        window.deals.detail.clipboard.timer.start(50)
        qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() == "", timeout=3000)
        window.signed_in.lock()
        window.close()
    log.write_text("\n".join(outputs))  # every other command's terminal output
    config = Path(os.environ["XDG_CONFIG_HOME"])
    data = Path(os.environ["XDG_DATA_HOME"])
    roots = [ws_path, fresh_tmp, config, data, tmp_path]
    skip = {f for f in exports.rglob("*")}  # the exports the user asked for
    hits = scan(roots, skip)
    assert hits == []
    assert QGuiApplication.clipboard().text() == ""
    # The exports hold no PHI either (the audit logs ids, never PHI).
    assert scan([exports], set()) == []
    # Core dumps are off, so a crash could not write PHI to disk.
    import resource

    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
