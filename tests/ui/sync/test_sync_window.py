"""Sync in the window, end to end: real windows (offscreen) on laptops with real
SQLCipher workspaces and keyring entries, against the real server over PostgreSQL on
127.0.0.1. Connect from the first-run window, Sync now between two windows, the status
bar's counts, the conflicts view (a losing PHI value hidden until a logged reveal), and
the Devices pane's approve and revoke."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from api_support import Api
from laptop_support import Laptop, server_rows
from pg_support import ServerDb
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from support import FakeDialogs
from window_support import (
    SAM_PASSWORD,
    WAIT_MS,
    count_phi_access,
    tag_of,
    titles,
    window_of,
)

from closeplan_desktop import app as app_module
from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.core.sync import connect
from closeplan_desktop.core.usecases import deals, users
from closeplan_desktop.ui.kit.ops import Kind
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn
from closeplan_desktop.ui.sync.conflicts import ConflictsDialog
from closeplan_desktop.ui.sync.devices import DevicesPane
from closeplan_desktop.ui.wizard import FirstRunWizard

# ---- connect ---------------------------------------------------------------------------


def connect_page_of(target: Path, qtbot: QtBot) -> FirstRunWizard:
    """The first-run window at "Connect to your organisation's server"."""
    wizard = FirstRunWizard(target, load_policy())
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.choice.connect.setChecked(True)
    wizard.next()
    assert wizard.currentId() == FirstRunWizard.CONNECT
    return wizard


def test_connect_from_the_first_run_window(ada: Laptop, live: Api, tmp_path: Path,
                                           qtbot: QtBot, dialogs: FakeDialogs) -> None:
    admin = ada.session()
    users.add_user(admin, f"sam@{tag_of(ada)}", "Sam", "Sales", "USER", SAM_PASSWORD)
    deals.create_deal(admin, "Radiology refresh", "ACTIVE", "5000.00", {"mrn": "R-1"})
    ada.sync()

    target = tmp_path / "sam"
    wizard = connect_page_of(target, qtbot)
    page = wizard.connect_page
    assert page.password.echoMode() == page.password.EchoMode.Password
    page.url.setText(live.live.url)
    page.email.setText(f"sam@{tag_of(ada)}")
    # A wrong password: the server's refusal in words, no workspace made.
    page.password.setText("not-the-password-at-all")
    wizard.next()
    qtbot.waitUntil(lambda: page.op is None, timeout=WAIT_MS)
    assert wizard.currentId() == FirstRunWizard.CONNECT
    refused = page.outcome.text()
    assert refused and "Traceback" not in refused and "password" in refused.lower()
    assert not target.exists()

    page.password.setText(SAM_PASSWORD)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == FirstRunWizard.CODE, timeout=WAIT_MS)
    code_page = wizard.code_page
    shown = code_page.code.text()
    assert len(shown) == 7 and shown[3] == " " and shown.replace(" ", "").isdigit()
    assert f"code <b>{shown}</b> in their Devices pane" in code_page.words.text()
    assert "Waiting" in code_page.status.text()
    assert wizard.result() == 0  # not before an admin approves

    # Ada approves in her Devices pane, with the code Sam reads to her.
    w = window_of(ada, qtbot)
    pane = w.pane("devices")
    assert isinstance(pane, DevicesPane)
    w.show_pane("devices")
    qtbot.waitUntil(lambda: any(d.status == "PENDING" for d in pane.rows), timeout=WAIT_MS)
    waiting = next(d for d in pane.rows if d.status == "PENDING")
    pane.select(waiting.id)
    assert pane.approve_button.isEnabled()
    dialogs.text = shown
    pane.approve_button.click()
    qtbot.waitUntil(lambda: any(d.id == waiting.id and d.status == "ACTIVE"
                                for d in pane.rows), timeout=WAIT_MS)

    # Sam's window: approved, loaded, signed in; the main window opens.
    qtbot.waitUntil(lambda: wizard.result() == 1, timeout=WAIT_MS)
    assert wizard.connected is not None and wizard.path == target
    assert page.password.text() == ""
    controller = app_module.Controller(argparse.Namespace(demo=False, workspace=None))
    controller.connected = wizard.connected
    controller.wizard = wizard
    assert controller._open_connected()
    sam = controller.window
    assert isinstance(sam, MainWindow)
    qtbot.addWidget(sam)
    qtbot.waitUntil(lambda: "Radiology refresh" in titles(sam), timeout=WAIT_MS)
    assert sam.signed_in.core.email == f"sam@{tag_of(ada)}"
    assert sam.sync is not None
    qtbot.waitUntil(lambda: sam.sync is not None and sam.sync.state.online, timeout=WAIT_MS)
    assert "devices" not in sam.pane_keys  # a sales user has no Devices pane
    sam.close()
    w.close()
    sam.signed_in.ws.close()


def test_connect_to_an_unreachable_server_says_so(tmp_path: Path, qtbot: QtBot) -> None:
    wizard = connect_page_of(tmp_path / "ws", qtbot)
    page = wizard.connect_page
    page.url.setText("http://127.0.0.1:9")  # nothing listens on the discard port
    page.email.setText("sam@nowhere.example")
    page.password.setText(SAM_PASSWORD)
    wizard.next()
    qtbot.waitUntil(lambda: page.op is None, timeout=60_000)
    assert wizard.currentId() == FirstRunWizard.CONNECT
    assert "cannot be reached" in page.outcome.text()
    assert not (tmp_path / "ws").exists()
    wizard.button(QWizard.WizardButton.CancelButton).click()


def test_cancel_while_waiting_for_approval_closes_the_workspace(
        ada: Laptop, live: Api, tmp_path: Path, qtbot: QtBot) -> None:
    users.add_user(ada.session(), f"sam@{tag_of(ada)}", "Sam", "Sales", "USER", SAM_PASSWORD)
    ada.sync()
    target = tmp_path / "sam"
    wizard = connect_page_of(target, qtbot)
    page = wizard.connect_page
    page.url.setText(live.live.url)
    page.email.setText(f"sam@{tag_of(ada)}")
    page.password.setText(SAM_PASSWORD)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.code_page.op is not None, timeout=WAIT_MS)
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert wizard.result() == 0 and wizard.connected is None
    assert page.started is None
    # The wait ended and the workspace was closed: its lock is free again.
    from closeplan_desktop.core.store import workspace
    with workspace.open_workspace(target) as ws:
        assert ws.path == target


# ---- Sync now and the status bar -------------------------------------------------------


def test_sync_now_moves_a_change_between_windows(ada: Laptop, max_: Laptop,
                                                qtbot: QtBot) -> None:
    a = window_of(ada, qtbot)
    b = window_of(max_, qtbot)
    assert a.sync is not None and b.sync is not None
    # Stop the automatic rounds: this test moves the change with Sync now only.
    for w in (a, b):
        assert w.sync is not None
        w.sync.pause()
    status = a.sync_status
    assert status.online.text() == "Online", a.sync.state.problem
    assert status.last.text() == "Last sync just now"
    assert "UTC" in status.last.toolTip() or status.last.toolTip()[-1].isalpha()
    # A change in Ada's window (core, announced as the deal form does).
    deals.create_deal(a.signed_in.core, "Ortho implants", "ACTIVE", "720.00")
    a.signed_in.changes.announce({Kind.DEALS})
    a.sync.refresh_counts()
    assert status.pending.text() == "1 change to send"
    assert "Ortho implants" not in titles(b)
    a.act_sync.trigger()  # Sync now (Ctrl+Shift+S)
    assert a.act_sync.shortcut().toString() == "Ctrl+Shift+S"
    qtbot.waitUntil(lambda: a.sync is not None and a.sync.op is None
                    and a.sync.state.pending == 0, timeout=WAIT_MS)
    assert status.pending.text() == "All changes sent"
    b.act_sync.trigger()
    qtbot.waitUntil(lambda: "Ortho implants" in titles(b), timeout=WAIT_MS)
    a.close()
    b.close()


def test_a_local_change_is_sent_by_itself_and_the_long_poll_brings_it(
        ada: Laptop, max_: Laptop, qtbot: QtBot) -> None:
    a = window_of(ada, qtbot)
    b = window_of(max_, qtbot)
    qtbot.waitUntil(lambda: b.sync is not None and b.sync.poller is not None,
                    timeout=WAIT_MS)
    deals.create_deal(a.signed_in.core, "Sleep lab", "DRAFT", "10.00")
    a.signed_in.changes.announce({Kind.DEALS})  # the debounced round sends it
    qtbot.waitUntil(lambda: "Sleep lab" in titles(b), timeout=WAIT_MS)
    # Locking stops the long-poll and the rounds.
    b.signed_in.lock()
    assert b.sync is not None and b.sync.poller is None
    assert not b.sync.period.isActive()
    a.close()
    b.close()
    assert b.sync.stopped and a.sync is not None and a.sync.stopped


# ---- conflicts ---------------------------------------------------------------------------


def test_conflicts_view_hides_a_losing_phi_value_until_a_logged_reveal(
        ada: Laptop, max_: Laptop, qtbot: QtBot) -> None:
    d = deals.create_deal(ada.session(), "Shared deal", "ACTIVE", "100.00",
                          {"mrn": "ORIGINAL"})
    ada.sync()
    max_.sync()
    deals.update_deal(ada.session(), d.id, title="Ada's title", phi={"mrn": "ADA-WROTE"})
    deals.update_deal(max_.session(), d.id, title="Max's title",
                      phi={"mrn": "MAX-WROTE"})
    ada.sync()
    assert max_.sync().conflicts == 1
    ada.sync()
    w = window_of(ada, qtbot)
    assert w.sync is not None
    qtbot.waitUntil(lambda: w.sync is not None and w.sync.state.conflicts == 2,
                    timeout=WAIT_MS)
    assert w.sync_status.conflicts.isVisible()
    assert w.sync_status.conflicts.text() == "2 conflicts"
    dialog = ConflictsDialog(w.signed_in, w)
    qtbot.addWidget(dialog)
    tree = dialog.conflicts
    rows = [[tree.topLevelItem(i).text(c) for c in range(4)]  # type: ignore[union-attr]
            for i in range(tree.topLevelItemCount())]
    assert ["Deal “Max's title”", "Title", "Max's title", "Ada's title"] in rows
    phi_row = next(i for i, r in enumerate(rows) if r[1] == "PHI")
    everything = json.dumps(rows)
    assert "ADA-WROTE" not in everything and "MAX-WROTE" not in everything
    assert rows[phi_row][3] == "Hidden PHI (reveal to see it)"
    before = count_phi_access(ada)
    tree.setCurrentItem(tree.topLevelItem(phi_row))
    assert dialog.reveal.isEnabled()
    dialog.reveal.click()
    assert tree.topLevelItem(phi_row).text(3) == "mrn: ADA-WROTE"  # type: ignore[union-attr]
    assert count_phi_access(ada) == before + 1  # the reveal was logged
    # A title row has nothing hidden to reveal.
    tree.setCurrentItem(tree.topLevelItem(1 - phi_row))
    assert not dialog.reveal.isEnabled()
    dialog.clear_sensitive()
    assert tree.topLevelItemCount() == 0
    dialog.close()
    w.close()


# ---- devices --------------------------------------------------------------------------


def test_devices_pane_approves_and_revokes(ada: Laptop, live: Api, server_db: ServerDb,
                                           tmp_path: Path, qtbot: QtBot,
                                           dialogs: FakeDialogs) -> None:
    users.add_user(ada.session(), f"sam@{tag_of(ada)}", "Sam", "Sales", "USER",
                          SAM_PASSWORD)
    ada.sync()
    ws, transport, enrolment = connect.start(tmp_path / "sam", live.live.url,
                                             f"sam@{tag_of(ada)}", SAM_PASSWORD,
                                             name="Sam's ThinkPad")
    try:
        w = window_of(ada, qtbot)
        assert "devices" in w.pane_keys
        w.show_pane("devices")
        pane = w.pane("devices")
        assert isinstance(pane, DevicesPane)
        qtbot.waitUntil(lambda: len(pane.rows) == 2, timeout=WAIT_MS)
        texts = [[pane.tree.topLevelItem(i).text(c) for c in range(3)]  # type: ignore[union-attr]
                 for i in range(pane.tree.topLevelItemCount())]
        assert texts[0] == ["Sam's ThinkPad", f"sam@{tag_of(ada)}", "Waiting for approval"]
        assert texts[1][0].endswith("(this laptop)") and texts[1][2] == "Approved"
        assert "1 waiting for approval" in pane.status.text()
        # This laptop cannot be revoked from itself; a waiting one is approved with its code.
        pane.select(ws.device_id)
        # A wrong code: the server's refusal in words, still waiting.
        dialogs.text = "000000" if enrolment.approval_code != "000000" else "111111"
        pane.approve_button.click()
        qtbot.waitUntil(lambda: pane.message.isVisible(), timeout=WAIT_MS)
        assert pane.message.text() and "Traceback" not in pane.message.text()
        dialogs.text = f"{enrolment.approval_code}"
        pane.approve_button.click()
        qtbot.waitUntil(lambda: "approved" in pane.status.text(), timeout=WAIT_MS)
        assert connect.device_status(transport, ws.device_id) == "ACTIVE"
        # Revoke: the confirmation says what happens.
        pane.select(ws.device_id)
        assert pane.revoke_button.isEnabled()
        dialogs.answers["Revoke device"] = False
        pane.revoke_button.click()
        assert connect.device_status(transport, ws.device_id) == "ACTIVE"
        dialogs.answers["Revoke device"] = True
        pane.revoke_button.click()
        qtbot.waitUntil(lambda: "revoked" in pane.status.text(), timeout=WAIT_MS)
        assert dialogs.confirms == ["Revoke device", "Revoke device"]
        rows = server_rows(server_db, w.signed_in.core.tenant_id,
                           "SELECT status::text FROM devices WHERE tenant_id = %s AND id = %s",
                           (ws.device_id,))
        assert rows == [("REVOKED",)]
        pane.select(ada.ws.device_id)
        assert not pane.revoke_button.isEnabled()
        w.close()
    finally:
        transport.close()
        ws.close()


def test_a_standalone_workspace_shows_no_sync(env: object, qtbot: QtBot) -> None:
    from support import Env
    assert isinstance(env, Env)
    w = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(w)
    assert w.sync is None and "devices" not in w.pane_keys
    assert not hasattr(w, "sync_status")
    # An admin's Sync menu offers only to connect this workspace (test_sync_adopt_window).
    (menu,) = [a.menu() for a in w.menuBar().actions() if a.text() == "&Sync"]
    assert [a.text() for a in menu.actions()] == ["&Connect This Workspace to a Server…"]
    w.close()



def test_a_revoked_laptops_window_says_so_and_leaves(ada: Laptop, max_: Laptop,
                                                    qtbot: QtBot, dialogs: FakeDialogs) -> None:
    from closeplan_desktop.core.sync import devices

    b = window_of(max_, qtbot)
    assert b.sync is not None
    b.sync.pause()
    ada.session()
    devices.revoke(ada.transport, max_.ws.device_id, "Laptop lost")
    b.act_sync.trigger()
    qtbot.waitUntil(lambda: any(t == "This laptop was removed" for _k, t, _m in dialogs.shown),
                    timeout=WAIT_MS)
    text = next(m for _k, t, m in dialogs.shown if t == "This laptop was removed")
    assert "revoked this laptop" in text and "Traceback" not in text
    qtbot.waitUntil(lambda: not b.isVisible(), timeout=WAIT_MS)
    assert not max_.ws.path.exists()
