"""Issue 15 in the window: the deal form's owner, close date and probability (and its
note of what is PHI), the Owner and Close date columns, "My deals" one click away, the
overdue mark (icon and word, not colour alone), the forecast line and the detail panel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.domain.clock import local_today
from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.dialog import DealDialog
from closeplan_desktop.ui.deals.model import CLOSE_COLUMN, COLUMNS
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    late = local_today() - timedelta(days=2)
    deals.create_deal(env.admin, "Admin's beds", "ACTIVE", "1000", probability=20)
    deals.create_deal(env.admin, "Bob's pumps", "ACTIVE", "300", owner_id=env.user.user_id,
                      expected_close_date=late)
    deals.create_deal(env.admin, "Bob's won", "CLOSED_WON", "50", owner_id=env.user.user_id,
                      expected_close_date=late)
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def titles(w: MainWindow) -> list[str]:
    return [d.title for d in w.deals.model.rows]


def test_the_form_has_owner_close_date_and_probability(env: Env, qtbot: QtBot) -> None:
    dialog = DealDialog(SignedIn(env.ws, env.user))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert "not PHI" in dialog.not_phi_note.text() and "encrypted" in dialog.phi_box.title()
    plan = dialog.plan
    assert plan.owner.currentData() == env.user.user_id and "(me)" in plan.owner.currentText()
    assert plan.owner.count() == 2  # the active users
    assert plan.close_date.text() == ""
    assert plan.probability.text() == "Default for status (10%)"  # DRAFT
    dialog.status.setCurrentIndex(dialog.status.findText("Active"))
    assert plan.probability.text() == "Default for status (50%)"
    dialog.title.setText("Dialysis chairs")
    dialog.value.setText("900")
    plan.close_date.setText("2027-02-30")
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled() and "real day" in plan.close_hint.text()
    assert not plan.close_hint.isHidden()
    plan.close_date.setText("2027-03-31")
    plan.probability.setValue(70)
    plan.owner.setCurrentIndex(plan.owner.findData(env.admin.user_id))
    assert save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    made = dialog.result_deal
    assert made is not None
    assert (made.owner_id, made.created_by_id) == (env.admin.user_id, env.user.user_id)
    assert (made.expected_close_date, made.probability) == (date(2027, 3, 31), 70)


def test_my_deals_owner_and_close_filters_and_the_overdue_mark(window: MainWindow, env: Env,
                                                               qtbot: QtBot) -> None:
    pane = window.deals
    assert "Closes" in COLUMNS and set(titles(window)) == {"Admin's beds", "Bob's pumps",
                                                                "Bob's won"}
    assert "Weighted forecast" in pane.forecast.text()
    # 1000 x 20% + 300 x 50% = 350 over open deals.
    assert pane.forecast.forecast is not None
    assert pane.forecast.forecast.open.weighted == Decimal("350")
    qtbot.mouseClick(pane.owner_filters.mine, Qt.MouseButton.LeftButton)  # one click
    assert set(titles(window)) == {"Bob's pumps", "Bob's won"}
    assert pane.owner_filters.owner.currentData() == env.user.user_id
    assert pane.forecast.forecast is not None
    assert pane.forecast.forecast.open.weighted == Decimal("150")
    assert "Filtered forecast" in pane.forecast.text()
    # Overdue: only the open one, marked by icon and words (tooltip, screen reader) as well
    # as colour.
    row = titles(window).index("Bob's pumps")
    index = pane.model.index(row, CLOSE_COLUMN)
    assert "Overdue" in index.data(Qt.ItemDataRole.AccessibleTextRole)
    assert "Overdue" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(Qt.ItemDataRole.DecorationRole) is not None
    assert index.data(Qt.ItemDataRole.ForegroundRole) is not None
    won = pane.model.index(titles(window).index("Bob's won"), CLOSE_COLUMN)
    assert won.data(Qt.ItemDataRole.AccessibleTextRole) is None
    assert won.data(Qt.ItemDataRole.DecorationRole) is None
    pane.owner_filters.close.setCurrentIndex(pane.owner_filters.close.findData("overdue"))
    assert titles(window) == ["Bob's pumps"]
    pane.owner_filters.close.setCurrentIndex(0)
    qtbot.mouseClick(pane.owner_filters.mine, Qt.MouseButton.LeftButton)
    assert len(titles(window)) == 3
    pane.owner_filters.owner.setCurrentIndex(
        pane.owner_filters.owner.findData(env.admin.user_id))
    assert titles(window) == ["Admin's beds"] and not pane.owner_filters.mine.isChecked()
    # The detail panel shows owner, close date and probability.
    pane.owner_filters.owner.setCurrentIndex(0)
    pane.table.selectRow(titles(window).index("Bob's pumps"))
    detail = pane.detail
    assert detail.owner.text() == "Bob Sales"
    assert "overdue" in detail.close_date.text()
    assert detail.probability.text() == "50% (default for status)"


def test_the_list_sorts_by_close_date_and_owner(window: MainWindow, qtbot: QtBot) -> None:
    pane = window.deals
    pane.table.sortByColumn(COLUMNS.index("Closes"), Qt.SortOrder.AscendingOrder)
    assert titles(window)[0] == "Admin's beds"  # no date first
    pane.table.sortByColumn(COLUMNS.index("Owner"), Qt.SortOrder.AscendingOrder)
    owners = [d.owner_id for d in pane.model.rows]
    assert owners == sorted(owners)
