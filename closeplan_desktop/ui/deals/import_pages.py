"""The import wizard's two mapping steps: what each column of the file is (with a preview
of its first rows), and what each stage value of the file is among the four statuses.

The targets, the presets, the remembered layouts and every check are core's
(`core.usecases.importing`); these pages show them and collect the user's choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from ...core.domain.enums import DealStatus
from ...core.usecases.importing import check, mapping
from ..kit.widgets import error_line, muted
from .model import STATUS_LABELS

if TYPE_CHECKING:
    from .import_wizard import ImportWizard

MASK = "•••••"  # cells of a column mapped to PHI, in the preview and the samples
SAMPLES = 3


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    item.setToolTip(text)
    return item


def _table(name: str, accessible: str) -> QTableWidget:
    table = QTableWidget()
    table.setObjectName(name)
    table.setAccessibleName(accessible)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setTabKeyNavigation(False)  # Tab moves on to the next control, as in a form
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    return table


def _origin_text(source: str) -> str:
    if source == mapping.REMEMBERED:
        return ("Remembered: a file with these columns was imported before, and its "
                "mapping is back. Change anything that differs this time.")
    if source in (mapping.HUBSPOT, mapping.PIPEDRIVE):
        return (f"Recognised as a {mapping.PRESET_NAMES[source]} export: the mapping below "
                "is proposed from its column names. Check it before you go on.")
    return ("Columns named as ClosePlan's own (title, status, value, phi_…) are mapped; "
            "choose what the others are, or leave them ignored.")


class MappingPage(QWizardPage):
    """Preview (first rows) and a mapping combo per source column."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Map the columns")
        self.setSubTitle("Say what each column of the file is. PHI fields are encrypted; "
                         "notes are not, so keep patient details out of them.")
        layout = QVBoxLayout(self)
        self.origin = muted()
        self.origin.setObjectName("mappingOrigin")
        self.columns = _table("mappingColumns", "Columns of the file and what they import as")
        self.columns.setColumnCount(3)
        self.columns.setHorizontalHeaderLabels(["Column in the file", "Import as",
                                                "First values"])
        head = self.columns.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        head.setStretchLastSection(True)
        self.preview = _table("mappingPreview", "The first rows of the file")
        caption = QLabel("&Preview of the first rows (line numbers of the file)")
        caption.setBuddy(self.preview)
        self.problems = error_line("mappingProblems")
        self.problems.setWordWrap(True)
        # No QSplitter: the focus ring is a child of the focused widget's parent, and a
        # splitter would take it for a pane of its own.
        layout.addWidget(self.origin)
        layout.addWidget(self.columns, 3)
        layout.addWidget(caption)
        layout.addWidget(self.preview, 2)
        layout.addWidget(self.problems)
        self.combos: dict[str, QComboBox] = {}

    def initializePage(self) -> None:
        table, plan = self.wiz.table, self.wiz.plan
        assert table is not None and plan is not None
        self.origin.setText(_origin_text(plan.source))
        self.columns.setRowCount(len(table.header))
        self.combos = {}
        for row, name in enumerate(table.header):
            self.columns.setItem(row, 0, _item(name))
            combo = QComboBox()
            combo.setObjectName(f"mapColumn{row}")
            combo.setAccessibleName(f"Import column {name} as")
            for target in mapping.TARGETS:
                combo.addItem(mapping.TARGET_LABELS[target], target)
            phi = plan.columns.get(name, "")
            proposed = phi if phi.startswith(mapping.PHI_PREFIX) else mapping.phi_target(name)
            combo.addItem(f"PHI field {proposed[len(mapping.PHI_PREFIX):]} (encrypted)",
                          proposed)
            combo.setCurrentIndex(max(0, combo.findData(plan.columns.get(name,
                                                                         mapping.IGNORE))))
            combo.currentIndexChanged.connect(self._changed)
            self.columns.setCellWidget(row, 1, combo)
            self.combos[name] = combo
        self.columns.resizeRowsToContents()
        widest = max((c.sizeHint().width() for c in self.combos.values()), default=200)
        self.columns.setColumnWidth(1, widest + 12)
        self._fill_preview()
        self._changed()

    def _fill_preview(self) -> None:
        table = self.wiz.table
        assert table is not None
        rows = table.preview()
        self.preview.setColumnCount(len(table.header))
        self.preview.setRowCount(len(rows))
        self.preview.setHorizontalHeaderLabels(list(table.header))
        self.preview.setVerticalHeaderLabels([str(n) for n in table.lines[:len(rows)]])
        self.preview.verticalHeader().setVisible(True)  # the file's line numbers

    def current_plan(self) -> mapping.Plan:
        plan = self.wiz.plan
        assert plan is not None
        columns = {name: str(combo.currentData()) for name, combo in self.combos.items()}
        return mapping.Plan(columns, dict(plan.stages), plan.source)

    def _changed(self) -> None:
        table = self.wiz.table
        assert table is not None
        plan = self.current_plan()
        masked = set(plan.phi_columns())
        rows = table.preview()
        for col, name in enumerate(table.header):
            hidden = name in masked
            for r, cells in enumerate(rows):
                self.preview.setItem(r, col, _item(MASK if hidden and cells[col].strip()
                                                   else cells[col]))
            samples = [c[col].strip() for c in rows if c[col].strip()][:SAMPLES]
            shown = [MASK] * len(samples) if hidden else samples
            self.columns.setItem(col, 2, _item(", ".join(shown)))
        self.preview.resizeColumnsToContents()
        for col in range(self.preview.columnCount()):
            self.preview.setColumnWidth(col, min(self.preview.columnWidth(col), 260))
        problems = mapping.plan_problems(plan, check.UNSUPPORTED)
        self.problems.setText("\n".join(problems))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.combos) and not mapping.plan_problems(self.current_plan(),
                                                               check.UNSUPPORTED)

    def validatePage(self) -> bool:
        self.wiz.plan = self.current_plan()
        return True


class StagesPage(QWizardPage):
    """Each distinct stage value of the file, with the status it imports as."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Map the stage values")
        self.setSubTitle("ClosePlan has four statuses. Choose one for each stage value of "
                         "the file; rows with a value left unmapped are listed on the next "
                         "step.")
        layout = QVBoxLayout(self)
        self.table = _table("stageValues", "Stage values of the file and their status")
        self.table.setColumnCount(4)
        self.table.setHorizontalHeaderLabels(["Stage value in the file", "Deals",
                                              "First line", "Imports as"])
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = muted()
        self.summary.setObjectName("stageSummary")
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        self.combos: dict[str, QComboBox] = {}

    def initializePage(self) -> None:
        table, plan = self.wiz.table, self.wiz.plan
        assert table is not None and plan is not None
        values = check.stage_values(table, plan)
        proposed = mapping.propose_stages([v.value for v in values], plan.stages)
        self.table.setRowCount(len(values))
        self.combos = {}
        for row, value in enumerate(values):
            self.table.setItem(row, 0, _item(value.value or "(empty)"))
            count = _item(f"{value.count:,}")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, count)
            self.table.setItem(row, 2, _item(str(value.first_line)))
            combo = QComboBox()
            combo.setObjectName(f"stageStatus{row}")
            combo.setAccessibleName(f"Status for the stage value {value.value}")
            combo.addItem("Not mapped", None)
            for status in DealStatus:
                combo.addItem(STATUS_LABELS[status], status)
            combo.setCurrentIndex(max(0, combo.findData(proposed.get(value.value))))
            combo.currentIndexChanged.connect(self._changed)
            self.table.setCellWidget(row, 3, combo)
            self.combos[value.value] = combo
        self.table.resizeRowsToContents()
        self._changed()

    def stages(self) -> dict[str, DealStatus]:
        """The stage mapping: the plan's (values of other files kept, to remember) with
        this file's choices."""
        plan = self.wiz.plan
        assert plan is not None
        out = dict(plan.stages)
        for value, combo in self.combos.items():
            if combo.currentData() is None:
                out.pop(value, None)
            else:
                out[value] = DealStatus(combo.currentData())
        return out

    def _changed(self) -> None:
        left = sum(1 for combo in self.combos.values() if combo.currentData() is None)
        self.summary.setText(f"{len(self.combos):,} stage values; "
                             + (f"{left:,} not mapped yet." if left else "all mapped."))

    def validatePage(self) -> bool:
        plan = self.wiz.plan
        assert plan is not None
        self.wiz.plan = mapping.Plan(plan.columns, self.stages(), plan.source)
        return True
