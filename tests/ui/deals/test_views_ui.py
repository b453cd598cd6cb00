"""The deals pane's saved views and export (issue 15), driven as a user would on real
widgets (offscreen): the view combo and Views menu, the header's name and its "changed"
marker, totals that follow the view, the default view at the next sign-in, and Export
View (with and without PHI) from the File menu, off the UI thread."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot
from support import Env, FakeDialogs, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.usecases import deals, views
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn

PHI = {"patient_name": "Winifred Okonkwo-Lindqvist", "mrn": "MRN-55510"}


def open_window(env: Env, qtbot: QtBot) -> MainWindow:
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    """A rep's window: two deals of the rep's (one with PHI), two of the admin's."""
    deals.create_deal(env.admin, "Admin's cath lab", "ACTIVE", "900000", PHI)
    deals.create_deal(env.admin, "Admin's draft", "DRAFT", "10.00")
    deals.create_deal(env.user, "Bob's infusion pumps", "DRAFT", "12500.50", PHI)
    deals.create_deal(env.user, "Bob's =SUM(A1) deal", "ACTIVE", "100.00")
    w = open_window(env, qtbot)
    yield w
    w.close()


def menu_action(w: MainWindow, menu: str, text: str):  # type: ignore[no-untyped-def]
    menus = {m.title(): m for m in w.menuBar().findChildren(QMenu)}
    return next(a for a in menus[menu].actions() if a.text() == text)


def titles(w: MainWindow) -> list[str]:
    return sorted(d.title for d in w.deals.model.rows)


def test_views_combo_totals_follow_the_view_and_the_header_names_it(window: MainWindow,
                                                                    env: Env) -> None:
    pane = window.deals
    combo = pane.views.combo
    assert [combo.itemData(i) for i in range(combo.count())] == [
        views.ALL_DEALS, views.MY_DEALS, views.DELETED]
    assert pane.title_label.text() == "Deals · All deals"
    assert pane.count_label.text() == "4 deals"
    pane.views.choose(views.MY_DEALS)
    assert titles(window) == ["Bob's =SUM(A1) deal", "Bob's infusion pumps"]
    assert pane.count_label.text() == "2 deals"
    totals = {r.status: r.count for r in pane.pipeline.rows}
    assert totals[DealStatus.DRAFT] == 1 and totals[DealStatus.ACTIVE] == 1
    assert pane.title_label.text() == "Deals · My deals"
    # A filter on top of the view: the header says it differs; the totals follow.
    pane.status_filter.setCurrentIndex(pane.status_filter.findData(DealStatus.DRAFT))
    assert titles(window) == ["Bob's infusion pumps"]
    assert pane.title_label.text() == "Deals · My deals (changed)"
    assert "Save As" in pane.title_label.toolTip()
    assert not pane.views.save_action.isEnabled()  # a built-in cannot be saved over
    pane.views.choose(views.DELETED)
    assert pane.deleted_action.isChecked() and pane.count_label.text() == "0 deleted deals"


def test_save_as_rename_default_and_delete(window: MainWindow, env: Env, qtbot: QtBot,
                                           dialogs: FakeDialogs) -> None:
    pane = window.deals
    pane.views.choose(views.MY_DEALS)
    pane.status_filter.setCurrentIndex(pane.status_filter.findData(DealStatus.DRAFT))
    dialogs.text = "My drafts"
    menu_action(window, "&View", "Save View &As…").trigger()
    assert pane.views.active is not None and pane.views.active.name == "My drafts"
    assert pane.title_label.text() == "Deals · My drafts"
    saved = views.get_view(env.user, "My drafts").query
    assert saved.status == DealStatus.DRAFT and saved.owner_id == env.user.user_id
    # Save over it after a change.
    pane.search.setText("infusion")
    pane.apply_filters()
    assert pane.title_label.text().endswith("(changed)") and pane.views.save_action.isEnabled()
    menu_action(window, "&View", "&Save View").trigger()
    assert views.get_view(env.user, "My drafts").query.search == "infusion"
    assert pane.title_label.text() == "Deals · My drafts"
    pane.views.default_action.trigger()
    dialogs.text = "Pumps"
    pane.views.rename_action.trigger()
    assert pane.views.combo.findData("Pumps") >= 0 and pane.views.combo.findData("My drafts") < 0
    # Another sign-in opens on the default view, its filter on the bar.
    window.close()
    again = open_window(env, qtbot)
    try:
        assert again.deals.title_label.text() == "Deals · Pumps"
        assert again.deals.search.text() == "infusion"
        assert titles(again) == ["Bob's infusion pumps"]
        # A name already used is refused with core's message; nothing changes.
        dialogs.text = "pumps"
        again.deals.views.save_as_action.trigger()
        assert any("already have a view named" in text for _t, text in dialogs.errors)
        again.deals.views.delete_action.trigger()
        assert "Delete view" in dialogs.confirms
        assert again.deals.views.combo.findData("Pumps") < 0
        assert again.deals.title_label.text() == "Deals · All deals"
    finally:
        again.close()


def test_the_view_combo_is_keyboard_reachable(window: MainWindow, qtbot: QtBot) -> None:
    menu_action(window, "&View", "Choose &View…").trigger()
    combo = window.deals.views.combo
    qtbot.waitUntil(lambda: combo.view().isVisible())
    combo.hidePopup()
    window.activateWindow()
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert window.deals.title_label.text() == "Deals · My deals"


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(encoding="utf-8-sig")))


def test_export_view_from_the_file_menu_without_and_with_phi(
        window: MainWindow, env: Env, qtbot: QtBot, dialogs: FakeDialogs,
        tmp_path: Path) -> None:
    pane = window.deals
    pane.views.choose(views.MY_DEALS)
    out = tmp_path / "mine"
    dialogs.save = (out, "CSV for Excel, UTF-8 with BOM (*.csv)")
    menu_action(window, "&File", "&Export View as CSV…").trigger()
    qtbot.waitUntil(lambda: bool(dialogs.messages), timeout=20_000)
    written = tmp_path / "mine.csv"
    assert written.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_csv(written)
    assert sorted(r[1] for r in rows[1:]) == ["Bob's =SUM(A1) deal", "Bob's infusion pumps"]
    assert "MRN-55510" not in written.read_text(encoding="utf-8-sig")
    assert dialogs.messages[-1][1] == "Export finished"
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT count(*) FROM access_logs WHERE action = 'PHI_ACCESS'") \
        == [(0,)]
    # With PHI: the warning says the file is unencrypted, a reason is asked, each deal
    # exported with PHI is logged, and another's deal is withheld.
    pane.views.choose(views.ALL_DEALS)
    dialogs.save = (tmp_path / "all.csv", "CSV (*.csv)")
    dialogs.text = "Payer audit"
    dialogs.shown.clear()
    menu_action(window, "&File", "Export View with &PHI…").trigger()
    assert "Export PHI unencrypted" in dialogs.confirms
    qtbot.waitUntil(lambda: bool(dialogs.messages), timeout=20_000)
    assert "withheld" in dialogs.messages[-1][2]
    text = (tmp_path / "all.csv").read_text(encoding="utf-8")
    assert text.count("MRN-55510") == 1
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT count(*), min(reason) FROM access_logs WHERE action = "
                         "'PHI_ACCESS'") == [(1, "Payer audit")]
    # Cancelling the warning writes nothing and logs nothing.
    dialogs.answers["Export PHI unencrypted"] = False
    dialogs.save = (tmp_path / "none.csv", "CSV (*.csv)")
    pane.views.export_phi_action.trigger()
    assert not (tmp_path / "none.csv").exists()
