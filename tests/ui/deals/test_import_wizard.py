"""The import wizard (issue 15) in the real window, offscreen: a HubSpot- and a
Pipedrive-shaped export mapped, checked and imported; problems listed by line with
nothing written; the mapping remembered for the next file of the same layout; bad files
told clearly; the lock closes it; it fits 1366x768 and is keyboard reachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_exports import HUBSPOT_CSV, PIPEDRIVE_CSV, PIPEDRIVE_STAGES
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QWizard
from pytestqt.qtbot import QtBot
from support import USER_EMAIL, Env, FakeDialogs, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.usecases.importing import check, mapping
from closeplan_desktop.ui.deals.import_wizard import ImportWizard
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    w = MainWindow(SignedIn(env.ws, env.admin))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.deals.import_wizard is not None:
        w.deals.import_wizard.reject()
    w.close()


def counts(env: Env) -> tuple[object, ...]:
    env.ws.engine.dispose()
    return tuple(sql(env.path, f"SELECT count(*) FROM {t}")[0][0] for t in
                 ("deals", "access_logs", "outbox", "deal_activities"))


def open_file(window: MainWindow, qtbot: QtBot, dialogs: FakeDialogs, path: Path
              ) -> ImportWizard:
    window.deals.import_csv()
    wiz = window.deals.import_wizard
    assert wiz is not None and wiz.isVisible() and wiz.currentId() == wiz.FILE
    dialogs.open = path
    qtbot.mouseClick(wiz.file_page.choose, Qt.MouseButton.LeftButton)
    assert "Import deals from CSV" in dialogs.prompts
    qtbot.waitUntil(lambda: wiz.file_page.op is None, timeout=10000)
    return wiz


def choose(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def next_page(wiz: ImportWizard, qtbot: QtBot) -> None:
    nxt = wiz.button(QWizard.WizardButton.CommitButton if wiz.currentPage().isCommitPage()
                     else QWizard.WizardButton.NextButton)
    assert nxt.isEnabled()
    qtbot.mouseClick(nxt, Qt.MouseButton.LeftButton)


def wait_checked(wiz: ImportWizard, qtbot: QtBot) -> check.Checked:
    qtbot.waitUntil(lambda: wiz.check_page.op is None and wiz.checked is not None,
                    timeout=10000)
    assert wiz.checked is not None
    return wiz.checked


def test_hubspot_export_through_the_wizard(window: MainWindow, env: Env, qtbot: QtBot,
                                           dialogs: FakeDialogs, tmp_path: Path) -> None:
    f = tmp_path / "hubspot.csv"
    f.write_bytes(HUBSPOT_CSV)
    wiz = open_file(window, qtbot, dialogs, f)
    assert wiz.currentId() == wiz.MAPPING
    page = wiz.mapping_page
    assert "Recognised as a HubSpot export" in page.origin.text()
    assert page.combos["Deal Name"].currentData() == mapping.TITLE
    assert page.preview.rowCount() == 4
    assert page.preview.verticalHeaderItem(0).text() == "2"  # the file's line numbers
    assert page.preview.item(0, 9).text() == "MRN-4471"
    choose(page.combos["Patient MRN"], "phi_patient_mrn")
    assert page.preview.item(0, 9).text() == "•••••"  # PHI is masked once mapped so
    choose(page.combos["Deal Description"], mapping.NOTE)
    next_page(wiz, qtbot)
    stages = wiz.stages_page
    assert set(stages.combos) == {"appointmentscheduled", "closedwon", "closedlost",
                                  "pilotstage"}
    assert stages.combos["closedwon"].currentData() == DealStatus.CLOSED_WON
    assert stages.combos["pilotstage"].currentData() is None
    assert "1 not mapped yet" in stages.summary.text()
    choose(stages.combos["pilotstage"], DealStatus.DRAFT)
    next_page(wiz, qtbot)
    checked = wait_checked(wiz, qtbot)
    assert checked.ok and wiz.check_page.headline.text() == "4 deals ready to import."
    assert wiz.button(QWizard.WizardButton.CommitButton).text() == "&Import"
    next_page(wiz, qtbot)
    qtbot.waitUntil(lambda: wiz.currentId() == wiz.SUMMARY, timeout=20000)
    assert wiz.summary_page.text.text() == "Imported 4 deals."
    assert counts(env)[0] == 4 and counts(env)[3] == 2
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT d.title, u.email, d.expected_close_date, d.probability "
                         "FROM deals d JOIN users u ON u.id = d.owner_id WHERE d.title LIKE "
                         "'CT%'") == [("CT scanner lease – Harbor Heart", USER_EMAIL,
                                       "2026-03-31", 40)]
    qtbot.waitUntil(lambda: window.deals.model.total == 4, timeout=3000)
    assert not dialogs.errors


def test_problems_by_line_block_the_import(window: MainWindow, env: Env, qtbot: QtBot,
                                           dialogs: FakeDialogs, tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(b"Deal Name,Deal Stage,Amount\r\nA,closedwon,1\r\nB,pilotstage,x\r\n"
                  b"C,pilotstage,2\r\n")
    before = counts(env)
    wiz = open_file(window, qtbot, dialogs, f)
    next_page(wiz, qtbot)
    next_page(wiz, qtbot)  # pilotstage left unmapped
    checked = wait_checked(wiz, qtbot)
    assert not checked.ok
    report = wiz.check_page.report.toPlainText()
    assert "Lines 3, 4: Stage 'pilotstage' is not mapped" in report
    assert "Line 3: Amount must be an amount" in report
    assert wiz.check_page.headline.text().startswith("2 problems to fix")
    assert not wiz.button(QWizard.WizardButton.CommitButton).isEnabled()
    qtbot.mouseClick(wiz.check_page.copy, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == report
    # Back, map the stage: the check runs again and only the amount is left.
    wiz.back()
    choose(wiz.stages_page.combos["pilotstage"], DealStatus.ACTIVE)
    next_page(wiz, qtbot)
    assert [p.text()[:31] for p in wait_checked(wiz, qtbot).problems] == [
        "Line 3: Amount must be an amoun"]
    assert counts(env) == before


def test_pipedrive_layout_is_remembered(window: MainWindow, env: Env, qtbot: QtBot,
                                        dialogs: FakeDialogs, tmp_path: Path) -> None:
    f = tmp_path / "pipedrive.csv"
    f.write_bytes(PIPEDRIVE_CSV)
    wiz = open_file(window, qtbot, dialogs, f)
    assert "Pipedrive" in wiz.mapping_page.origin.text()
    choose(wiz.mapping_page.combos["Deal - Pipeline"], mapping.NOTE)
    next_page(wiz, qtbot)
    for value, status in PIPEDRIVE_STAGES.items():
        choose(wiz.stages_page.combos[value], DealStatus(status))
    next_page(wiz, qtbot)
    assert wait_checked(wiz, qtbot).ok
    next_page(wiz, qtbot)
    qtbot.waitUntil(lambda: wiz.currentId() == wiz.SUMMARY, timeout=20000)
    wiz.accept()
    assert counts(env)[3] == 4  # the pipeline column became a note on each deal
    # The next file of this layout opens with the same choices, stages and all.
    g = tmp_path / "pipedrive-2.csv"
    g.write_bytes(PIPEDRIVE_CSV.replace(b"MRI service contract", b"MRI coils"))
    wiz = open_file(window, qtbot, dialogs, g)
    assert wiz.mapping_page.origin.text().startswith("Remembered")
    assert wiz.mapping_page.combos["Deal - Pipeline"].currentData() == mapping.NOTE
    next_page(wiz, qtbot)
    assert wiz.stages_page.combos["open / Lead In"].currentData() == DealStatus.DRAFT
    assert "all mapped" in wiz.stages_page.summary.text()


@pytest.mark.parametrize("content,fragment", [
    (b"", "The CSV file is empty"),
    ("Deal Name,Amount\r\nCafé,1\r\n".encode("cp1252"), "not UTF-8 text")])
def test_bad_files_are_told_on_the_first_page(window: MainWindow, qtbot: QtBot,
                                              dialogs: FakeDialogs, tmp_path: Path,
                                              content: bytes, fragment: str) -> None:
    f = tmp_path / "in.csv"
    f.write_bytes(content)
    wiz = open_file(window, qtbot, dialogs, f)
    assert wiz.currentId() == wiz.FILE
    assert fragment in wiz.file_page.message.text()
    assert not dialogs.errors


def test_lock_closes_the_wizard(window: MainWindow, qtbot: QtBot, dialogs: FakeDialogs,
                                tmp_path: Path) -> None:
    f = tmp_path / "hubspot.csv"
    f.write_bytes(HUBSPOT_CSV)
    wiz = open_file(window, qtbot, dialogs, f)
    assert wiz.mapping_page.preview.item(0, 9).text() == "MRN-4471"  # not mapped to PHI yet
    window.signed_in.lock()
    assert not wiz.isVisible()
    # The file's rows are dropped with it, PHI cells of the preview included.
    assert wiz.table is None and wiz.mapping_page.preview.item(0, 9) is None


def test_fits_1366x768_and_is_keyboard_reachable(window: MainWindow, qtbot: QtBot,
                                                 dialogs: FakeDialogs,
                                                 tmp_path: Path) -> None:
    f = tmp_path / "pipedrive.csv"
    f.write_bytes(PIPEDRIVE_CSV)
    wiz = open_file(window, qtbot, dialogs, f)
    screen = wiz.screen().availableGeometry()
    assert wiz.frameGeometry().width() <= screen.width()
    assert wiz.frameGeometry().height() <= screen.height()
    combos = list(wiz.mapping_page.combos.values())
    assert all(c.focusPolicy() & Qt.FocusPolicy.TabFocus for c in combos)
    assert all(c.accessibleName().startswith("Import column") for c in combos)
    # Tab from the first combo reaches the next one.
    combos[0].setFocus()
    qtbot.keyClick(combos[0], Qt.Key.Key_Tab)
    assert wiz.focusWidget() is combos[1]
