"""Sync > "Connect this workspace to a server…" in the window of a standalone workspace:
a real window (offscreen) over a real workspace, against the real server over PostgreSQL
on 127.0.0.1. A wrong code leaves it standalone with the server's words; the right one
connects it, and the window syncs from then on (menu, status bar, Devices pane)."""

from __future__ import annotations

from pathlib import Path

import pytest
from adopt_support import REP_PASSWORD, issue, standalone
from api_support import Api
from laptop_support import PASSWORD, server_rows
from pg_support import ServerDb
from pytestqt.qtbot import QtBot
from support import FakeDialogs

from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.usecases import auth
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.sync.adopt_dialog import ConnectWorkspaceDialog

WAIT_MS = 30_000


def menu_texts(w: MainWindow) -> dict[str, list[str]]:
    return {m.text(): [a.text() for a in m.menu().actions() if a.text()]
            for m in w.menuBar().actions() if m.menu() is not None}


def test_an_admin_connects_the_standalone_workspace_from_the_sync_menu(
        live: Api, server_db: ServerDb, tmp_path: Path, qtbot: QtBot, dialogs: FakeDialogs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = standalone(tmp_path / "w", domain="window-adopt.example")
    issue(server_db, "2468-1357-2468-1357")
    with workspace.open_workspace(tmp_path / "w") as ws:
        # A user of the workspace has no Sync menu: only an admin can connect it.
        rep = MainWindow(SignedIn(ws, auth.sign_in(ws, made["rep"], REP_PASSWORD)))
        qtbot.addWidget(rep)
        assert "&Sync" not in menu_texts(rep)
        rep.close()
        w = MainWindow(SignedIn(ws, auth.sign_in(ws, made["admin"], PASSWORD)))
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        assert w.sync is None and "devices" not in w.pane_keys
        assert menu_texts(w)["&Sync"] == ["&Connect This Workspace to a Server…"]
        codes = iter(["0000-0000-0000-0000", "2468-1357-2468-1357"])
        outcomes: list[str] = []

        def fill_and_connect(dialog: ConnectWorkspaceDialog) -> int:
            """What the admin types; the dialog's own button and work, waited for."""
            dialog.url.setText(live.live.url)
            dialog.password.setText(PASSWORD)
            dialog.code.setText(next(codes))
            dialog.ok.click()
            qtbot.waitUntil(lambda: dialog.op is None, timeout=WAIT_MS)
            outcomes.append(dialog.outcome.text())
            return 1 if dialog.adopted is not None else 0

        monkeypatch.setattr(ConnectWorkspaceDialog, "exec", fill_and_connect)
        # A wrong code: the server's words in the dialog, and nothing changed.
        w.act_connect.trigger()
        assert "setup code is wrong" in outcomes[-1]
        assert w.sync is None and engine.connection(ws) is None
        assert PASSWORD not in outcomes[-1]
        # The operator's code: connected, and the window syncs from now on.
        w.act_connect.trigger()
        assert engine.connection(ws) is not None
        assert w.sync is not None and "devices" in w.pane_keys
        assert menu_texts(w)["&Sync"] == ["Sync &Now", "&Conflicts and Rejections…",
                                            "Sign &In to the Server…"]
        ((_kind, title, text),) = dialogs.messages
        assert title == "Connected" and "4 deals" in text
        qtbot.waitUntil(lambda: w.sync is not None and w.sync.state.online, timeout=WAIT_MS)
        assert server_rows(server_db, made["tenant_id"], "SELECT count(*) FROM deals WHERE "
                           "tenant_id = %s") == [(4,)]
        w.close()
