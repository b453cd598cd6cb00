"""The window fits the screens people have: 1366x768, and 1920x1080 at 150 % (1280x720
logical), less the task bar."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, QSettings, QSize
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from support import Env

from closeplan_desktop.ui.kit import widgets
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


def themed(app: QApplication) -> None:
    from closeplan_desktop.ui.theme import apply_theme

    apply_theme(app)


SCREENS = (QRect(0, 0, 1366, 728), QRect(0, 0, 1280, 680), QRect(0, 0, 1920, 1040))


@pytest.mark.parametrize("area", SCREENS)
def test_the_admin_window_opens_inside_the_available_area(
        env: Env, qtbot: QtBot, qapp: QApplication, area: QRect,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(widgets, "available_area", lambda _w: area)
    themed(qapp)
    QSettings().remove("mainWindow/geometry")  # a first start: nothing saved
    w = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(w)
    for key in list(w.panes):  # every pane built: its minimum counts
        w.show_pane(key)
    assert area.contains(QRect(w.pos(), w.size()))
    minimum = w.minimumSizeHint()
    assert minimum.width() <= area.width() and minimum.height() <= area.height()
    # A small screen's whole width (the deals list needs it); else 92 % up to 1280.
    width = (area.width() - widgets.FRAME_ALLOWANCE if area.width() < widgets.SMALL_SCREEN_WIDTH
             else min(1280, round(area.width() * 0.92)))
    assert w.size() == QSize(width, min(800, round(area.height() * 0.92)))
    w.close()


def test_a_geometry_saved_on_a_bigger_screen_is_brought_back(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QWidget

    area = QRect(0, 0, 1280, 680)
    monkeypatch.setattr(widgets, "available_area", lambda _w: area)
    w = QWidget()
    qtbot.addWidget(w)
    w.setGeometry(600, 300, 1600, 900)
    widgets.keep_on_screen(w)
    assert area.contains(w.frameGeometry())


def test_an_admin_on_1366x768_reads_whole_deal_titles(
        env: Env, qtbot: QtBot, qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the admin's navigation shown, the title column still fits a long title of the
    demo's kind; the navigation is as narrow as its entries, none of them cut."""
    from closeplan_desktop.core.usecases import deals

    long_titles = ("Remote patient monitoring pilot – Riverside Community Hospital",
                   "Cardiology cath lab fit-out – Lakeview Children's Hospital")
    for title in long_titles:
        deals.create_deal(env.admin, title, "CLOSED_LOST", "527072.27", None)
    monkeypatch.setattr(widgets, "available_area", lambda _w: QRect(0, 0, 1366, 728))
    QSettings().remove("mainWindow/geometry")
    themed(qapp)  # as the app starts: its style sheet's fonts decide the widths
    w = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    assert w.nav.isVisible() and w.width() <= 1366
    nav_metrics = w.nav.fontMetrics()
    for row in range(w.nav.count()):
        item = w.nav.item(row)
        assert w.nav.visualItemRect(item).width() >= (
            nav_metrics.horizontalAdvance(item.text()) + w.nav.iconSize().width())
    table = w.deals.table
    metrics = table.fontMetrics()
    title_width = table.horizontalHeader().sectionSize(0)
    for title in long_titles:
        assert title_width >= metrics.horizontalAdvance(title) + 8, title
    # The other columns show their contents whole.
    model = w.deals.model
    for col in (1, 2, 5):
        text = str(model.index(0, col).data())
        assert table.horizontalHeader().sectionSize(col) >= metrics.horizontalAdvance(text)
    w.close()
