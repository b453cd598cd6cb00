"""Import deals from a CSV file, ClosePlan's own or another CRM's export (HubSpot,
Pipedrive): choose the file -> map its columns (preview, presets, remembered layouts) ->
map its stage values -> check every row (problems by line, copyable) -> import (progress,
cancel) -> summary.

Reading, checking and importing run off the UI thread (`kit.ops.Op`); every rule is
core's (`core.usecases.importing`). The window locking closes the wizard and cancels its
work: the import is one transaction, so nothing is half written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ...core.domain import paths
from ...core.domain.progress import CancelToken, Progress
from ...core.usecases.importing import check, layouts, mapping, source
from ..icons import icon
from ..kit import dialogs
from ..kit.ops import Kind, Op
from ..kit.widgets import button, error_line, fit_to_screen, heading, muted
from ..signed_in import SignedIn
from .import_pages import MappingPage, StagesPage

WRITES = frozenset({Kind.DEALS, Kind.AUDIT})
FILTERS = "CSV files (*.csv *.txt);;All files (*)"


class FilePage(QWizardPage):
    """Choose the file; Next reads it (off the UI thread) and proposes a mapping."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Choose the file")
        self.setSubTitle("A CSV export of HubSpot, Pipedrive or another CRM, or a file with "
                         "ClosePlan's own columns (title, status, value, phi_…). UTF-8 text, "
                         "separated by commas, semicolons or tabs.")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setObjectName("importPath")
        self.path.setAccessibleName("File to import")
        self.path.setPlaceholderText("/home/you/Downloads/deals-export.csv")
        self.path.textChanged.connect(lambda _t: self.completeChanged.emit())
        label = QLabel("&File")
        label.setBuddy(self.path)
        self.choose = button("&Choose…", "folder", self._choose, name="importChoose",
                             accessible="Choose the file")
        row.addWidget(label)
        row.addWidget(self.path, 1)
        row.addWidget(self.choose)
        self.message = error_line("importFileMessage")
        self.message.setWordWrap(True)
        steps = muted("Next, say what each column is: HubSpot and Pipedrive exports are "
                      "recognised, and a file with the same columns as one imported before "
                      "opens with that mapping. Then choose a status for each stage value, "
                      "and every row is checked. Nothing is written until every row is "
                      "valid; then all the deals go in at once.")
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addSpacing(12)
        layout.addWidget(steps)
        layout.addStretch(1)
        self.loaded: Path | None = None
        self.op: Op | None = None

    def _choose(self) -> None:
        start = Path(self.path.text()).expanduser().parent if self.path.text() else Path.home()
        chosen = dialogs.open_file(self, "Import deals from CSV", start, FILTERS)
        if chosen is not None:
            self.path.setText(str(chosen))
            self.wiz.next()

    def isComplete(self) -> bool:
        return bool(self.path.text().strip()) and self.op is None

    def validatePage(self) -> bool:
        chosen = Path(self.path.text().strip()).expanduser()
        if self.loaded == chosen and self.wiz.table is not None:
            return True
        self.message.setText("")
        session = self.wiz.signed_in.core

        def work(_progress: Progress, _cancel: CancelToken) -> Any:
            table = source.read(paths.read_user_file(chosen))
            return table, layouts.plan_for(session, table.header)

        self.op = (Op(self.wiz, "Reading the file", work, failure_title="Cannot read the file")
                   .on_success(lambda result: self._read(chosen, result))
                   .on_failure(self.message.setText)
                   .on_finished(self._finished))
        self.completeChanged.emit()
        self.op.run_in_background()
        return False

    def _finished(self) -> None:
        self.op = None
        self.completeChanged.emit()

    def _read(self, chosen: Path, result: tuple[source.SourceTable, mapping.Plan]) -> None:
        if not self.wiz.isVisible():
            return  # closed meanwhile
        self.wiz.table, self.wiz.plan = result
        self.wiz.checked = None
        self.loaded = chosen
        self.wiz.next()


class CheckPage(QWizardPage):
    """Every row checked; problems by line (copyable), or "N deals ready"; Import."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Check")
        self.setSubTitle("Every row is checked before anything is written: the import "
                         "happens only when every row is valid, all in one go.")
        self.setCommitPage(True)
        layout = QVBoxLayout(self)
        self.headline = heading("", 1.15)
        self.headline.setObjectName("checkHeadline")
        self.headline.setWordWrap(True)
        self.hint = muted()
        self.report = QPlainTextEdit()
        self.report.setObjectName("checkReport")
        self.report.setAccessibleName("Problems by line")
        self.report.setReadOnly(True)
        self.report.setTabChangesFocus(True)
        self.copy = button("C&opy the list", "copy", self._copy, name="checkCopy")
        self.message = error_line("checkMessage")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.hint, 1)
        row.addWidget(self.copy)
        layout.addWidget(self.headline)
        layout.addLayout(row)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.message)
        self.op: Op | None = None
        self.run = 0  # which check a result belongs to (Back and Next start another)

    def initializePage(self) -> None:
        table, plan = self.wiz.table, self.wiz.plan
        assert table is not None and plan is not None
        self.wiz.checked = None
        self.run += 1
        run = self.run
        self.headline.setText(f"Checking {len(table.rows):,} rows…")
        self.hint.setText("")
        self.report.setPlainText("")
        self.message.setText("")
        self.copy.setEnabled(False)
        session = self.wiz.signed_in.core

        def work(progress: Progress, cancel: CancelToken) -> check.Checked:
            return check.check(session, table, plan, progress, cancel)

        self.op = (Op(self.wiz, "Checking rows", work, failure_title="Cannot check the file")
                   .on_success(lambda checked: self._checked(run, checked))
                   .on_failure(self.message.setText)
                   .on_cancel(lambda: self.headline.setText("Check cancelled."))
                   .on_finished(self._finished))
        self.op.run_in_background()

    def _finished(self) -> None:
        self.op = None
        self.completeChanged.emit()

    def _checked(self, run: int, checked: check.Checked) -> None:
        if run != self.run or not self.wiz.isVisible():
            return
        self.wiz.checked = checked
        self.report.setPlainText(checked.report())
        self.copy.setEnabled(True)
        if checked.ok:
            self.headline.setText(f"{checked.total:,} deal{'s' if checked.total != 1 else ''}"
                                  " ready to import.")
            self.hint.setText("Import writes them, their audit rows and their notes in one "
                              "transaction." + (" The notes below block nothing."
                                                if checked.notes else ""))
        else:
            count = len(checked.problems)
            self.headline.setText(f"{count:,} problem{'s' if count != 1 else ''} to fix; "
                                  "nothing will be imported until every row is valid.")
            self.hint.setText("Fix them in the file and choose it again, or go Back to "
                              "change the mapping.")
        self.completeChanged.emit()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.report.toPlainText())

    def isComplete(self) -> bool:
        return self.op is None and self.wiz.checked is not None and self.wiz.checked.ok

    def validatePage(self) -> bool:
        if self.wiz.imported is not None:
            return True
        table, plan, checked = self.wiz.table, self.wiz.plan, self.wiz.checked
        assert table is not None and plan is not None and checked is not None
        session = self.wiz.signed_in.core

        def work(progress: Progress, cancel: CancelToken) -> int:
            return check.import_checked(session, table, plan, checked, progress, cancel)

        self.message.setText("")
        self.op = (Op(self.wiz, "Importing deals", work, changes=WRITES,
                      hub=self.wiz.signed_in.changes, failure_title="Import failed",
                      dialog_name="importProgress", window_modal=True)
                   .on_success(self._imported)
                   .on_failure(lambda m: self.message.setText(m + " Nothing was imported."))
                   .on_cancel(lambda: self.message.setText("Import cancelled; nothing was "
                                                           "imported."))
                   .on_finished(self._finished))
        self.completeChanged.emit()
        self.op.run_in_background()
        return False

    def _imported(self, count: int) -> None:
        self.wiz.imported = count
        self.wiz.next()


class SummaryPage(QWizardPage):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Imported")
        layout = QVBoxLayout(self)
        self.text = heading("", 1.15)
        self.text.setObjectName("importSummary")
        self.text.setWordWrap(True)
        self.more = muted()
        layout.addWidget(self.text)
        layout.addWidget(self.more)
        layout.addStretch(1)

    def initializePage(self) -> None:
        n = self.wiz.imported or 0
        self.text.setText(f"Imported {n:,} deal{'s' if n != 1 else ''}.")
        notes = self.wiz.checked.notes if self.wiz.checked else []
        self.more.setText("The mapping is remembered: the next file with these columns "
                          "opens with it." + ("\n" + "\n".join(p.text() for p in notes)
                                              if notes else ""))


class ImportWizard(QWizard):
    """The import wizard (Deals → Import Deals from CSV…)."""

    FILE, MAPPING, STAGES, CHECK, SUMMARY = range(5)

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.setWindowTitle("Import deals")
        self.setObjectName("importWizard")
        self.setWindowIcon(icon("closeplan"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Import")
        self.table: source.SourceTable | None = None
        self.plan: mapping.Plan | None = None
        self.checked: check.Checked | None = None
        self.imported: int | None = None
        self.file_page = FilePage(self)
        self.mapping_page = MappingPage(self)
        self.stages_page = StagesPage(self)
        self.check_page = CheckPage(self)
        self.summary_page = SummaryPage(self)
        for page_id, page in ((self.FILE, self.file_page), (self.MAPPING, self.mapping_page),
                              (self.STAGES, self.stages_page), (self.CHECK, self.check_page),
                              (self.SUMMARY, self.summary_page)):
            self.setPage(page_id, page)
        signed_in.locked.connect(self.reject)
        fit_to_screen(self, QSize(1180, 740))

    def running(self) -> list[Op]:
        return [op for op in (self.file_page.op, self.check_page.op) if op is not None]

    def reject(self) -> None:
        """Cancel (or the window locked): stop any work; an import rolls back whole."""
        for op in self.running():
            op.cancel()
            op.wait()
        super().reject()

    def done(self, result: int) -> None:
        """Closed, however: drop the file's rows (the preview may hold PHI cells)."""
        super().done(result)
        self.table = self.plan = None
        self.mapping_page.preview.clearContents()
        self.mapping_page.columns.clearContents()
