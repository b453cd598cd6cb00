"""The deals pane and main window driven as a user would, on real widgets (offscreen)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit
from pytestqt.qtbot import QtBot
from support import USER_EMAIL, USER_PASSWORD, Env, FakeDialogs, sql

from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.dialog import DealDialog
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

PHI = {"patient_name": "Winifred Okonkwo-Lindqvist", "mrn": "MRN-55510"}


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    """The main window of a USER with one own deal with PHI and one of the admin's."""
    deals.create_deal(env.admin, "Admin's cath lab deal", "ACTIVE", "900000", PHI)
    deals.create_deal(env.user, "Bob's infusion pumps", "DRAFT", "12500.50", PHI)
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def select(w: MainWindow, title: str) -> None:
    pane = w.deals
    row = next(i for i, d in enumerate(pane.model.rows) if d.title == title)
    pane.table.selectRow(row)
    assert pane.detail.deal is not None and pane.detail.deal.title == title


def phi_reads(env: Env) -> list[tuple[object, ...]]:
    env.ws.engine.dispose()
    return sql(env.path, "SELECT success, reason FROM access_logs WHERE action='PHI_ACCESS' "
                         "ORDER BY seq")


def all_texts(w: MainWindow) -> str:
    from PySide6.QtWidgets import QApplication, QLabel, QPlainTextEdit

    texts = []
    for top in QApplication.topLevelWidgets():
        for le in top.findChildren(QLineEdit):
            texts.append(le.text())
        for lb in top.findChildren(QLabel):
            texts.append(lb.text())
        for pt in top.findChildren(QPlainTextEdit):
            texts.append(pt.toPlainText())
    return "\n".join(texts)


def test_user_sees_deals_only_and_shortcuts_do_not_reach_admin_panes(
        window: MainWindow, qtbot: QtBot) -> None:
    assert list(window.panes) == ["deals"]
    assert window.nav.count() == 1
    for key in ("Ctrl+2", "Ctrl+3"):
        qtbot.keyClick(window, key[-1], Qt.KeyboardModifier.ControlModifier)
        assert window.current_pane_key() == "deals"
    window.show_pane("users")
    assert window.current_pane_key() == "deals"
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Tools" not in menus


def test_status_bar_names_user_role_tenant_and_workspace(window: MainWindow, env: Env) -> None:
    from PySide6.QtWidgets import QLabel

    labels = window.statusBar().findChildren(QLabel)
    texts = [lb.text() for lb in labels]
    assert any(USER_EMAIL in t for t in texts)
    assert "User" in texts and "Acme Health" in texts
    # The workspace folder is for support: the tenant's tooltip, not the bar's text.
    assert str(env.path) not in texts and any(str(env.path) in lb.toolTip() for lb in labels)


def test_reveal_logs_one_row_and_hide_drops_the_text(window: MainWindow, env: Env) -> None:
    select(window, "Bob's infusion pumps")
    detail = window.deals.detail
    assert detail.visible_phi_text() == []
    assert PHI["mrn"] not in all_texts(window)
    detail.reveal()
    assert PHI["mrn"] in detail.visible_phi_text()
    assert phi_reads(env) == [(1, None)]
    detail.hide_phi()
    assert detail.visible_phi_text() == []
    assert PHI["mrn"] not in all_texts(window)
    assert phi_reads(env) == [(1, None)]


def test_reveal_hides_again_after_the_policy_time(window: MainWindow, qtbot: QtBot) -> None:
    select(window, "Bob's infusion pumps")
    detail = window.deals.detail
    detail.reveal()
    assert detail.hide_timer.interval() == 30_000  # the policy's default seconds
    detail.hide_timer.setInterval(50)
    detail.hide_timer.start()
    qtbot.waitUntil(lambda: detail.visible_phi_text() == [], timeout=3000)


def test_copy_clears_the_clipboard_after_the_policy_time(window: MainWindow,
                                                          qtbot: QtBot) -> None:
    select(window, "Bob's infusion pumps")
    detail = window.deals.detail
    detail.reveal()
    detail.copy_field("mrn")
    clipboard = QGuiApplication.clipboard()
    assert clipboard.text() == PHI["mrn"]
    assert detail.clipboard.timer.interval() == 20_000
    detail.clipboard.timer.start(50)
    qtbot.waitUntil(lambda: clipboard.text() == "", timeout=3000)
    # Text the user copied since is left alone.
    detail.copy_field("mrn")
    clipboard.setText("something else")
    detail.clipboard.clear()
    assert clipboard.text() == "something else"


def test_break_glass_asks_for_a_reason_first(window: MainWindow, env: Env,
                                             dialogs: FakeDialogs) -> None:
    select(window, "Admin's cath lab deal")
    dialogs.text = None  # the user cancels
    window.deals.detail.reveal()
    assert dialogs.prompts == ["Break-glass access"] and phi_reads(env) == []
    dialogs.text = "Patient on the phone, urgent"
    window.deals.detail.reveal()
    assert PHI["mrn"] in window.deals.detail.visible_phi_text()
    assert phi_reads(env) == [(1, "Patient on the phone, urgent")]


def test_lock_clears_phi_everywhere_and_unlock_asks_the_password(
        window: MainWindow, env: Env, qtbot: QtBot) -> None:
    select(window, "Bob's infusion pumps")
    window.deals.detail.reveal()
    window.deals.detail.copy_field("mrn")
    assert window.idle.timer.interval() == 15 * 60_000  # the policy's idle minutes
    window.idle.timer.setInterval(100)  # as if the policy's time had passed
    window.idle.start()
    qtbot.waitUntil(lambda: window.signed_in.is_locked, timeout=3000)
    assert PHI["mrn"] not in all_texts(window)
    assert PHI["patient_name"] not in all_texts(window)
    assert QGuiApplication.clipboard().text() == ""
    assert window.stack.currentWidget() is window.lock_screen
    assert not window.nav.isEnabled() and not window.menuBar().isEnabled()
    window.lock_screen.password.setText("wrong password!!")
    window.lock_screen._submit()
    assert window.signed_in.is_locked and "incorrect" in window.lock_screen.error.text()
    assert "email" not in window.lock_screen.error.text().lower()  # the email is fixed
    window.lock_screen.password.setText(USER_PASSWORD)
    window.lock_screen._submit()
    assert not window.signed_in.is_locked
    assert window.stack.currentWidget() is window.deals


def test_ctrl_l_locks(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.signed_in.is_locked


def test_lock_closes_an_open_edit_dialog_with_phi(window: MainWindow, qtbot: QtBot) -> None:
    select(window, "Bob's infusion pumps")
    dialog = DealDialog(window.signed_in, window.deals.selected_deal(), window)
    dialog.show()
    dialog.load_phi()
    assert dialog.phi_fields["mrn"].text() == PHI["mrn"]
    window.signed_in.lock()
    assert not dialog.isVisible() and dialog.phi_fields["mrn"].text() == ""


def test_create_edit_delete_restore(window: MainWindow, env: Env, qtbot: QtBot,
                                    dialogs: FakeDialogs) -> None:
    pane = window.deals
    dialog = DealDialog(window.signed_in, None, window)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled()
    dialog.title.setText("Telemetry monitors – Harbor")
    dialog.value.setText("12.345")
    assert not save.isEnabled() and "two decimal places" in dialog.value_hint.text()
    dialog.value.setText("48,000.00")
    dialog.phi_fields["mrn"].setText("MRN-NEW-1")
    assert save.isEnabled()
    dialog.save()
    created = dialog.result_deal
    assert created is not None and created.has_phi
    pane.refresh_and_select(created.id)
    assert pane.selected_deal().id == created.id
    # Edit without loading PHI keeps it.
    edit = DealDialog(window.signed_in, pane.selected_deal(), window)
    assert not edit.phi_fields["mrn"].isEnabled()
    edit.title.setText("Telemetry monitors – Harbor (phase 2)")
    edit.save()
    assert deals.reveal_phi(env.user, created.id) == {"mrn": "MRN-NEW-1"}
    dialogs.answers["Delete deal"] = True
    pane.refresh_and_select(created.id)
    pane.delete_deal()
    assert created.id not in [d.id for d in pane.model.rows]
    pane.deleted_action.setChecked(True)
    assert [d.id for d in pane.model.rows] == [created.id]
    pane.table.selectRow(0)
    assert pane.restore_button.isEnabled()
    pane.restore_deal()
    assert pane.model.total == 0 and "No deleted deals" in pane.empty.text()
    pane.deleted_action.setChecked(False)
    assert created.id in [d.id for d in pane.model.rows]


def test_search_filter_and_sort_go_through_core(window: MainWindow, qtbot: QtBot) -> None:
    pane = window.deals
    pane.search.setText("infusion")
    qtbot.waitUntil(lambda: pane.model.total == 1, timeout=2000)
    assert pane.model.query.search == "infusion"
    pane.search.clear()
    qtbot.waitUntil(lambda: pane.model.total == 2, timeout=2000)
    pane.status_filter.setCurrentIndex(pane.status_filter.findText("Draft"))
    assert [d.title for d in pane.model.rows] == ["Bob's infusion pumps"]
    pane.status_filter.setCurrentIndex(0)
    pane.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert pane.model.query.sort == "value" and not pane.model.query.descending
    assert pane.model.rows[0].title == "Bob's infusion pumps"
    pane.search.setText("zzzz")
    qtbot.waitUntil(lambda: pane.model.total == 0, timeout=2000)
    assert "No deals match" in pane.empty.text()


def test_users_cannot_edit_others_deals_in_the_ui(window: MainWindow) -> None:
    select(window, "Admin's cath lab deal")
    assert not window.deals.edit_button.isEnabled()
    assert not window.deals.delete_button.isEnabled()
    select(window, "Bob's infusion pumps")
    assert window.deals.edit_button.isEnabled()
