"""The deals board (issue 15) in the real window: the toggle, columns that page as they
scroll, headers that follow filter and search, drag and drop and the keyboard moving a
card (one DEAL_UPDATE row), a rep's refused move, and Enter opening the deal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from support import Env, FakeDialogs, sql

from closeplan_desktop.core.domain import clock
from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.usecases import deal_import, deals
from closeplan_desktop.ui.deals.board import BoardView
from closeplan_desktop.ui.deals.board_column import (
    MIME,
    PAGE,
    ColumnModel,
    card_lines,
    card_text,
)
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

PHI = {"patient_name": "Ottoline Varga-Nakamura", "mrn": "MRN-770011"}


def open_window(env: Env, qtbot: QtBot) -> MainWindow:
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    """A USER's window on the board: two own deals, one of the admin's."""
    deals.create_deal(env.user, "Bob's infusion pumps", "DRAFT", "12500.50", PHI,
                      expected_close_date=clock.local_today() - timedelta(days=3))
    deals.create_deal(env.user, "Bob's ward monitors", "ACTIVE", "300",
                      expected_close_date=clock.local_today() + timedelta(days=30))
    deals.create_deal(env.admin, "Admin's cath lab", "ACTIVE", "900000")
    w = open_window(env, qtbot)
    w.deals.board.action.trigger()
    yield w
    w.close()


def board(w: MainWindow) -> BoardView:
    return w.deals.board.view


def titles(w: MainWindow, status: DealStatus) -> list[str]:
    return [d.title for d in board(w).models[status].rows]


def header(w: MainWindow, status: DealStatus) -> str:
    label = board(w).labels[status]
    return f"{label.name.text()} | {label.total.text()}"


def card_id(w: MainWindow, title: str) -> str:
    return next(d.id for m in board(w).models.values() for d in m.rows if d.title == title)


def drop(w: MainWindow, title: str, to: DealStatus) -> None:
    """Drop the card as Qt delivers a drop: the drag enters the column, moves over it,
    then drops."""
    source = next(m for m in board(w).models.values()
                  if any(d.title == title for d in m.rows))
    row = next(i for i, d in enumerate(source.rows) if d.title == title)
    data = source.mimeData([source.index(row)])
    view = board(w).views[to]
    at = QPointF(view.viewport().rect().center())
    enter = QDragEnterEvent(at.toPoint(), Qt.DropAction.MoveAction, data,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(at.toPoint(), Qt.DropAction.MoveAction, data,
                          Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), move)
    assert move.isAccepted()
    event = QDropEvent(at, Qt.DropAction.MoveAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def update_rows(env: Env, deal_id: str) -> list[tuple[object, ...]]:
    env.ws.engine.dispose()
    return sql(env.path, "SELECT success FROM access_logs WHERE deal_id = ? AND "
                         "action = 'DEAL_UPDATE'", (deal_id,))


def test_the_toggle_menu_and_shortcut_show_the_board_and_it_is_remembered(
        env: Env, qtbot: QtBot) -> None:
    deals.create_deal(env.user, "Bob's infusion pumps", "DRAFT", "12500.50", PHI)
    w = open_window(env, qtbot)
    pane = w.deals
    assert pane.table_stack.currentWidget() is pane.table
    assert pane.board.action.shortcut().toString() == "Ctrl+Shift+B"
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert pane.board.action in view_menu.actions()
    pane.board.board_button.click()
    assert pane.board.on and pane.table_stack.currentWidget() is board(w)
    assert not pane.pipeline.isVisible()
    assert titles(w, DealStatus.DRAFT) == ["Bob's infusion pumps"]
    assert [board(w).labels[s].name.text() for s in board(w).models] == [
        "Draft · 1", "Active · 0", "Closed – won · 0", "Closed – lost · 0"]
    assert pane.count_label.text() == "1 deals"
    w.close()
    again = open_window(env, qtbot)  # the same user: the board again
    assert again.deals.board.on and again.deals.board.board_button.isChecked()
    assert titles(again, DealStatus.DRAFT) == ["Bob's infusion pumps"]
    again.deals.board.list_button.click()
    assert again.deals.table_stack.currentWidget() is again.deals.table
    assert again.deals.pipeline.isVisible()
    again.close()


def test_a_card_shows_its_fields_and_only_that_it_holds_phi(window: MainWindow) -> None:
    model = board(window).models[DealStatus.DRAFT]
    text = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "Bob's infusion pumps" in text and "$12,500.50" in text and "holds PHI" in text
    assert "Ottoline" not in text and "MRN-770011" not in text
    late = clock.local_today() - timedelta(days=3)
    assert "owner Bob Sales" in text
    assert f"overdue, was due to close {late}" in text  # an open deal past its date
    deal = model.deal_at(0)
    assert deal is not None and card_lines(deal)[3] == f"Closes {late}"
    active = board(window).models[DealStatus.ACTIVE]
    monitors = next(d for d in active.rows if d.title == "Bob's ward monitors")
    assert "overdue" not in card_text(monitors)
    assert card_lines(monitors)[2] == monitors.owner_name != ""
    view = board(window).views[DealStatus.DRAFT]
    assert view.itemDelegate() is board(window).delegate  # painted, not a widget per card
    assert view.indexWidget(model.index(0)) is None


def test_a_column_fetches_more_only_when_scrolled(env: Env, qtbot: QtBot) -> None:
    csv = "title,status,value\n" + "".join(f"Stent batch {i:03},ACTIVE,{i}\n"
                                           for i in range(PAGE + 15))
    deal_import.import_deals(env.admin, deal_import.parse_import(csv.encode()))
    deals.create_deal(env.user, "Lone draft", "DRAFT", "5")
    w = open_window(env, qtbot)
    w.deals.board.action.trigger()
    active: ColumnModel = board(w).models[DealStatus.ACTIVE]
    qtbot.wait(50)
    assert (len(active.rows), active.pages_fetched) == (PAGE, 1)
    assert board(w).models[DealStatus.DRAFT].pages_fetched == 1
    assert header(w, DealStatus.ACTIVE).startswith(f"Active · {PAGE + 15}")
    view = board(w).views[DealStatus.ACTIVE]
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    qtbot.waitUntil(lambda: active.pages_fetched == 2)
    assert len(active.rows) == PAGE + 15 and not active.canFetchMore()
    assert board(w).models[DealStatus.DRAFT].pages_fetched == 1
    w.close()


def test_headers_follow_the_filter_and_the_search(window: MainWindow) -> None:
    pane = window.deals
    assert header(window, DealStatus.ACTIVE) == "Active · 2 | $900,300.00"
    pane.search.setText("monitors")
    pane.apply_filters()
    assert header(window, DealStatus.ACTIVE) == "Active · 1 | $300.00"
    assert header(window, DealStatus.DRAFT) == "Draft · 0 | $0.00"
    assert titles(window, DealStatus.ACTIVE) == ["Bob's ward monitors"]
    pane.search.clear()
    pane.status_filter.setCurrentIndex(pane.status_filter.findData(DealStatus.DRAFT))
    assert header(window, DealStatus.ACTIVE) == "Active | Not in this filter"
    assert titles(window, DealStatus.ACTIVE) == []
    assert titles(window, DealStatus.DRAFT) == ["Bob's infusion pumps"]


def test_drag_and_drop_changes_the_status_with_one_log_row(window: MainWindow,
                                                            env: Env) -> None:
    deal_id = card_id(window, "Bob's ward monitors")
    drop(window, "Bob's ward monitors", DealStatus.CLOSED_WON)
    assert deals.get_deal(env.user, deal_id).status == DealStatus.CLOSED_WON
    assert update_rows(env, deal_id) == [(1,)]
    assert titles(window, DealStatus.CLOSED_WON) == ["Bob's ward monitors"]
    assert titles(window, DealStatus.ACTIVE) == ["Admin's cath lab"]
    assert header(window, DealStatus.CLOSED_WON) == "Closed – won · 1 | $300.00"
    assert header(window, DealStatus.ACTIVE) == "Active · 1 | $900,000.00"
    assert board(window).current_deal().id == deal_id  # selected where it went
    assert window.deals.detail.deal.id == deal_id
    # The columns it did not touch were not read again.
    assert board(window).models[DealStatus.DRAFT].pages_fetched == 1
    # Back from closed is an update too.
    drop(window, "Bob's ward monitors", DealStatus.ACTIVE)
    assert deals.get_deal(env.user, deal_id).status == DealStatus.ACTIVE
    assert update_rows(env, deal_id) == [(1,), (1,)]


def test_a_card_dropped_on_its_own_column_is_not_taken(window: MainWindow) -> None:
    model = board(window).models[DealStatus.ACTIVE]
    data = model.mimeData([model.index(0)])
    view = board(window).views[DealStatus.ACTIVE]
    at = view.viewport().rect().center()
    enter = QDragEnterEvent(at, Qt.DropAction.MoveAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert not enter.isAccepted()
    other = QMimeData()
    other.setData("text/plain", b"not a card")
    enter = QDragEnterEvent(at, Qt.DropAction.MoveAction, other, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(board(window).views[DealStatus.DRAFT].viewport(), enter)
    assert not enter.isAccepted()
    assert data.hasFormat(MIME)


def test_a_rep_moving_anothers_deal_sees_cores_refusal_and_the_card_stays(
        window: MainWindow, env: Env, dialogs: FakeDialogs) -> None:
    deal_id = card_id(window, "Admin's cath lab")
    drop(window, "Admin's cath lab", DealStatus.CLOSED_LOST)
    assert dialogs.errors == [("Cannot move the deal", "Only the deal's owner or an "
                                                       "administrator can change it.")]
    assert deals.get_deal(env.user, deal_id).status == DealStatus.ACTIVE
    assert "Admin's cath lab" in titles(window, DealStatus.ACTIVE)
    assert titles(window, DealStatus.CLOSED_LOST) == []
    assert update_rows(env, deal_id) == [(0,)]  # the refusal, logged


def test_the_keyboard_moves_a_card_and_enter_opens_it(window: MainWindow, env: Env,
                                                      qtbot: QtBot) -> None:
    b = board(window)
    draft = b.views[DealStatus.DRAFT]
    draft.setFocus()
    draft.setCurrentIndex(b.models[DealStatus.DRAFT].index(0))
    deal_id = card_id(window, "Bob's infusion pumps")
    qtbot.keyClick(draft, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert deals.get_deal(env.user, deal_id).status == DealStatus.ACTIVE
    assert b.current_deal().id == deal_id and b.focused_status == DealStatus.ACTIVE
    # "Move to…": the context menu's actions, one per column (its own disabled).
    actions = {a.objectName(): a for a in b.move_actions(window)}
    assert not actions["moveTo_ACTIVE"].isEnabled()
    actions["moveTo_CLOSED_LOST"].trigger()
    assert deals.get_deal(env.user, deal_id).status == DealStatus.CLOSED_LOST
    assert update_rows(env, deal_id) == [(1,), (1,)]
    assert b.current_deal().id == deal_id
    # Left and Right walk the columns; Enter opens the deal's timeline.
    lost = b.views[DealStatus.CLOSED_LOST]
    qtbot.keyClick(lost, Qt.Key.Key_Left)
    assert window.focusWidget() is b.views[DealStatus.CLOSED_WON]
    qtbot.keyClick(b.views[DealStatus.CLOSED_WON], Qt.Key.Key_Right)
    lost.setCurrentIndex(b.models[DealStatus.CLOSED_LOST].index(0))
    qtbot.keyClick(lost, Qt.Key.Key_Return)
    assert window.deals.detail.deal.id == deal_id
    assert window.focusWidget() is window.deals.detail.timeline.list
    assert "Changed: Status: Active → Closed – lost" in \
        window.deals.detail.timeline.entries_text()[0]
