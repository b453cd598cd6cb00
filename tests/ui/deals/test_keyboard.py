"""The deals pane from the keyboard: Tab leaves the table without changing the deal, and
goes on to Reveal, the revealed fields' Copy and Hide; Ctrl+C copies through the guard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    deals.create_deal(env.user, "Second", "DRAFT", "10", {"mrn": "MRN-2"})
    deals.create_deal(env.user, "First", "DRAFT", "10", {"mrn": "MRN-1", "patient_name": "A B"})
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    w.close()


def tab_walk(qtbot: QtBot, start: QWidget, steps: int = 14) -> list[QWidget]:
    start.setFocus()
    seen = []
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget() or start, Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    return seen


def test_tab_leaves_the_table_and_reaches_reveal_copy_and_hide(window: MainWindow,
                                                               qtbot: QtBot) -> None:
    pane = window.deals
    pane.table.selectRow(0)
    deal = pane.selected_deal()
    seen = tab_walk(qtbot, pane.table)
    assert pane.selected_deal() == deal
    assert pane.detail.reveal_button in seen
    pane.detail.reveal()
    qtbot.wait(20)  # the new rows are shown by the event loop
    seen = tab_walk(qtbot, pane.table, 20)
    names = {w.accessibleName() for w in seen if w is not None}
    assert {"Copy Patient name", "Copy Medical record number", "Hide PHI"} <= names
    assert pane.selected_deal() == deal


def test_ctrl_tab_keeps_the_selection(window: MainWindow, qtbot: QtBot) -> None:
    pane = window.deals
    pane.table.selectRow(1)
    deal = pane.selected_deal()
    pane.table.setFocus()
    qtbot.keyClick(pane.table, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert pane.selected_deal() == deal


def test_ctrl_c_in_a_revealed_field_copies_through_the_guard(window: MainWindow,
                                                             qtbot: QtBot) -> None:
    detail = window.deals.detail
    window.deals.table.selectRow(0)
    detail.reveal()
    field = next(w for w in detail.findChildren(QLineEdit) if w.objectName() == "phi_mrn")
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "MRN-1"
    assert detail.clipboard.timer.isActive() and not detail.copy_note.isHidden()
    detail.clear_sensitive()
    assert QGuiApplication.clipboard().text() == ""
