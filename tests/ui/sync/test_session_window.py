"""The window when the server ends this laptop's session, and when a connection was left
waiting for approval, end to end against the real server (offscreen windows, real
workspaces and keyring): "Signed out of the server — Sign in" in the status bar and its
dialog (wrong password, unreachable server, then syncing resumes); Finish connecting
from the Sync menu (the same code, the approval, the load, a connected window)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from api_support import Api
from laptop_support import Laptop
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot
from window_support import SAM_PASSWORD, WAIT_MS, tag_of, titles, window_of

from closeplan_desktop import app as app_module
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.sync import connect, devices
from closeplan_desktop.core.sync.connect import Stage
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import auth, deals, users
from closeplan_desktop.ui.kit.ops import Kind
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.sync.connect_pages import spaced
from closeplan_desktop.ui.sync.finish import FinishConnectingDialog
from closeplan_desktop.ui.sync.sign_in_again import SignInAgainDialog


def test_signed_out_by_the_server_the_status_bar_offers_sign_in_and_sync_resumes(
        ada: Laptop, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    w = window_of(ada, qtbot)
    sync = w.sync
    assert sync is not None
    sync.pause()
    status = w.sync_status
    assert not status.sign_in.isVisible()
    # Signed out elsewhere: every session of this device ends on the server.
    ada.transport.call("POST", "/v1/auth/sign-out")
    w.act_sync.trigger()
    qtbot.waitUntil(lambda: sync.state.signed_out and sync.op is None, timeout=WAIT_MS)
    assert status.sign_in.isVisible() and not status.online.isVisible()
    assert status.sign_in.text() == "Signed out of the server — Sign in"
    assert sync.poller is None and not sync.period.isActive()
    # Local work goes on; its change waits here.
    deals.create_deal(w.signed_in.core, "Written while signed out", "DRAFT", "3.00")
    w.signed_in.changes.announce({Kind.DEALS})
    qtbot.waitUntil(lambda: sync.state.pending == 1, timeout=WAIT_MS)
    assert sync.op is None and sync.state.signed_out
    assert "Written while signed out" in titles(w)

    # The status bar's "Sign in" opens the dialog (here: closed at once).
    opened: list[str] = []
    monkeypatch.setattr(SignInAgainDialog, "exec",
                        lambda self: opened.append(self.windowTitle()) or 0)
    status.sign_in.click()
    host = ada.transport.url.split("//")[1]
    assert opened == [f"Sign in to {host} again"]
    monkeypatch.undo()

    dialog = SignInAgainDialog(w.signed_in, sync, w)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.password.echoMode() == dialog.password.EchoMode.Password
    assert not dialog.ok.isEnabled()  # nothing typed yet
    # A wrong password: said in words; the dialog stays open.
    dialog.password.setText("not-the-password")
    dialog.ok.click()
    qtbot.waitUntil(lambda: dialog.op is None and dialog.error.isVisible(), timeout=WAIT_MS)
    assert "password is not right" in dialog.error.text()
    assert dialog.isVisible() and dialog.password.text() == ""
    # The server out of reach: said in words too.
    real = sync.transport
    sync.transport = Transport("http://127.0.0.1:9", ada.ws.keyring)
    dialog.password.setText(ada.password)
    dialog.ok.click()
    qtbot.waitUntil(lambda: dialog.op is None and "cannot be reached" in dialog.error.text(),
                    timeout=60_000)
    assert "Traceback" not in dialog.error.text()
    sync.transport.close()
    sync.transport = real
    # The right password: accepted, syncing resumes and sends the waiting change.
    dialog.password.setText(ada.password)
    dialog.ok.click()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=WAIT_MS)
    assert not sync.state.signed_out
    qtbot.waitUntil(lambda: sync.state.online and sync.state.pending == 0 and sync.op is None,
                    timeout=WAIT_MS)
    assert not status.sign_in.isVisible() and status.online.text() == "Online"
    w.close()


def test_a_connection_left_waiting_is_finished_from_the_window(
        ada: Laptop, live: Api, tmp_path: Path, qtbot: QtBot) -> None:
    admin = ada.session()
    users.add_user(admin, f"sam@{tag_of(ada)}", "Sam", "Sales", "USER", SAM_PASSWORD)
    deals.create_deal(admin, "Dialysis centre", "ACTIVE", "800.00")
    ada.sync()
    path = tmp_path / "sam"
    ws, transport, enrolment = connect.start(path, live.live.url, f"sam@{tag_of(ada)}",
                                             SAM_PASSWORD, name="Sam's laptop")
    code = enrolment.approval_code
    assert code is not None
    transport.close()  # the first-run window was cancelled while waiting
    ws.close()

    ws = workspace.open_workspace(path)
    try:
        session = auth.sign_in(ws, f"sam@{tag_of(ada)}", SAM_PASSWORD)
        w = MainWindow(SignedIn(ws, session))
        qtbot.addWidget(w)
        w.show()
        assert w.stage == Stage.AWAITING and w.sync is None
        assert w.finish_button.isVisible()
        assert "Not connected yet" in w.finish_button.text()
        sync_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Sync")
        assert [a.text() for a in sync_menu.actions()] == ["Finish &Connecting…"]

        approved: list[str] = []

        def approve_when_shown() -> None:
            """Ada approves with the code the dialog shows, as Sam reads it to her."""
            for top in QApplication.topLevelWidgets():
                if (isinstance(top, FinishConnectingDialog) and top.isVisible()
                        and top.code.text() and not approved):
                    approved.append(top.code.text())
                    ada.session()
                    devices.approve(ada.ws, ada.transport, top.code.text().replace(" ", ""),
                                    ws.device_id)

        timer = QTimer()
        timer.timeout.connect(approve_when_shown)
        timer.start(200)
        with qtbot.waitSignal(w.reopen_requested, timeout=WAIT_MS * 2):
            QTimer.singleShot(0, w.finish_connecting)
        timer.stop()
        assert approved == [spaced(code)]  # the same code as at connect
        assert connect.stage(ws) == Stage.CONNECTED and connect.kept_code(ws) is None

        # The app opens the window again on the same session: now a connected one.
        controller = app_module.Controller(argparse.Namespace(demo=False, workspace=None))
        controller.window, controller.ws = w, ws
        controller._reopen()
        connected = controller.window
        assert isinstance(connected, MainWindow) and connected is not w
        qtbot.addWidget(connected)
        assert connected.sync is not None and not connected.unfinished
        assert connected.signed_in.core is session
        qtbot.waitUntil(lambda: "Dialysis centre" in titles(connected), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: connected.sync is not None and connected.sync.state.online,
                        timeout=WAIT_MS)
        connected.close()
    finally:
        ws.close()
