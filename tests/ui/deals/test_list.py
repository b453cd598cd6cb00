"""The deals list tells the truth: the header's arrow matches the rows, the detail panel
follows the selection through a sort, the totals follow the search and filter."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.usecases import deals
from closeplan_desktop.ui.deals.model import COLUMNS
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    deals.create_deal(env.user, "Alpha pumps", "DRAFT", "10", None)
    deals.create_deal(env.user, "Beta monitors", "ACTIVE", "3000", None)
    deals.create_deal(env.user, "Gamma stents", "ACTIVE", "200", None)
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def titles(w: MainWindow) -> list[str]:
    return [d.title for d in w.deals.model.rows]


def click_header(w: MainWindow, qtbot: QtBot, name: str) -> None:
    header = w.deals.table.horizontalHeader()
    col = COLUMNS.index(name)
    x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))


def test_value_sorts_largest_first_and_unsortable_columns_keep_the_arrow(
        window: MainWindow, qtbot: QtBot) -> None:
    header = window.deals.table.horizontalHeader()
    click_header(window, qtbot, "Value")
    assert titles(window) == ["Beta monitors", "Gamma stents", "Alpha pumps"]
    assert header.sortIndicatorSection() == COLUMNS.index("Value")
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    for name in ("PHI",):  # Owner and Close date sort (issue 15)
        click_header(window, qtbot, name)
        assert header.sortIndicatorSection() == COLUMNS.index("Value")
        assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        assert titles(window) == ["Beta monitors", "Gamma stents", "Alpha pumps"]


def test_the_detail_panel_follows_the_selection_through_a_sort(window: MainWindow,
                                                                  qtbot: QtBot) -> None:
    pane = window.deals
    row = titles(window).index("Gamma stents")
    pane.table.selectRow(row)
    click_header(window, qtbot, "Title")
    selected = pane.selected_deal()
    assert selected is not None and selected.title == "Gamma stents"
    assert pane.detail.deal is not None and pane.detail.deal.title == "Gamma stents"
    pane.model.reload()  # a reset outside the pane's loading: nothing stale stays enabled
    assert pane.selected_deal() is None and pane.detail.deal is None
    assert not pane.edit_button.isEnabled() and not pane.delete_button.isEnabled()


def test_totals_follow_the_search_and_the_filter(window: MainWindow, qtbot: QtBot) -> None:
    pane = window.deals

    def totals() -> dict[DealStatus, Decimal]:
        return {r.status: r.total for r in pane.pipeline.rows if r.count}

    assert totals() == {DealStatus.DRAFT: Decimal("10.00"),
                        DealStatus.ACTIVE: Decimal("3200.00")}
    pane.search.setText("gamma")
    pane.apply_filters()
    assert totals() == {DealStatus.ACTIVE: Decimal("200.00")} and pane.pipeline.filtered
    pane.search.setText("")
    pane.status_filter.setCurrentIndex(pane.status_filter.findData(DealStatus.DRAFT))
    assert totals() == {DealStatus.DRAFT: Decimal("10.00")}


def test_escape_clears_the_search(window: MainWindow, qtbot: QtBot) -> None:
    pane = window.deals
    pane.focus_search()
    qtbot.keyClicks(pane.search, "gam")
    qtbot.keyClick(pane.search, Qt.Key.Key_Escape)
    assert pane.search.text() == ""
