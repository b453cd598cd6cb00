"""The deals pane: search as you type, status filter, the paging table, the pipeline
summary and the detail panel, with create, edit, delete and restore."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.domain import paths
from ..core.domain.enums import DealStatus
from ..core.domain.errors import ClosePlanError
from ..core.usecases import deal_import, deal_list, deals
from ..core.usecases.deal_list import DealQuery, DealSummary
from .deal_detail import DealDetail
from .deal_dialog import DealDialog
from .deals_model import STATUS_LABELS, DealsModel
from .icons import icon
from .messages import confirm, error_text, show_error
from .pane import Pane
from .pipeline_widget import PipelineWidget
from .session import AppSession
from .widgets import heading, muted
from .worker import Task

SEARCH_DELAY_MS = 120


class DealsPane(Pane):
    title = "Deals"

    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(app_session, parent)
        self.model = DealsModel(lambda: None if app_session.is_locked else app_session.core,
                                self)
        self.tasks: list[Task] = []

        self.search = QLineEdit()
        self.search.setObjectName("dealSearch")
        self.search.setPlaceholderText("Search deal titles…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setAccessibleName("Search deals")
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self.search_timer.start())

        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setAccessibleName("Status filter")
        self.status_filter.addItem("All statuses", None)
        for st in DealStatus:
            self.status_filter.addItem(STATUS_LABELS[st], st)
        self.status_filter.currentIndexChanged.connect(lambda _i: self.apply_filters())

        self.deleted_action = QAction(icon("delete"), "Show &Deleted Deals", self)
        self.deleted_action.setCheckable(True)
        self.deleted_action.toggled.connect(lambda _c: self.apply_filters())

        self.new_button = self._button("New deal", "add", self.new_deal, "newDealButton")
        self.edit_button = self._button("Edit", "edit", self.edit_deal, "editDealButton")
        self.delete_button = self._button("Delete", "delete", self.delete_deal,
                                          "deleteDealButton")
        self.restore_button = self._button("Restore", "restore", self.restore_deal,
                                           "restoreDealButton")
        self.deleted_toggle = QPushButton(icon("restore"), "Deleted")
        self.deleted_toggle.setObjectName("deletedToggle")
        self.deleted_toggle.setCheckable(True)
        self.deleted_toggle.setAccessibleName("Show deleted deals")
        self.deleted_toggle.toggled.connect(self.deleted_action.setChecked)
        self.deleted_action.toggled.connect(self.deleted_toggle.setChecked)

        bar = QHBoxLayout()
        bar.addWidget(self.search, 3)
        bar.addWidget(self.status_filter, 1)
        bar.addWidget(self.deleted_toggle)
        bar.addStretch(1)
        for b in (self.new_button, self.edit_button, self.delete_button, self.restore_button):
            bar.addWidget(b)

        self.pipeline = PipelineWidget()
        self.table = QTableView()
        self.table.setObjectName("dealsTable")
        self.table.setAccessibleName("Deals")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # The indicator first: enabling sorting then asks the model for the order it
        # already has, so nothing is loaded twice.
        self.table.horizontalHeader().setSortIndicator(5, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col, width in ((1, 104), (2, 124), (3, 124), (4, 56), (5, 128)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        self.table.doubleClicked.connect(lambda _i: self.edit_deal())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.empty = QLabel()
        self.empty.setObjectName("dealsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        self.detail = DealDetail(app_session)
        self.detail.changed.connect(self._after_reveal)
        split = QSplitter()
        split.addWidget(self.table_stack)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 360])

        self.count_label = QLabel()
        self.count_label.setObjectName("dealCount")

        title = heading("Deals")
        title.setObjectName("paneTitle")
        subtitle = muted("Your tenant's pipeline. PHI stays masked until you reveal it, and "
                         "every reveal is logged.")
        subtitle.setObjectName("paneSubtitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(self.pipeline)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.count_label)
        self._update_buttons()

    def _button(self, text: str, icon_name: str, slot: object, name: str) -> QPushButton:
        b = QPushButton(icon(icon_name), text)
        b.setObjectName(name)
        b.setAccessibleName(text)
        b.clicked.connect(slot)  # type: ignore[arg-type]
        return b

    # ---- loading --------------------------------------------------------------------

    def current_query(self) -> DealQuery:
        return DealQuery(status=self.status_filter.currentData(), search=self.search.text(),
                         sort=self.model.query.sort, descending=self.model.query.descending,
                         deleted=self.deleted_action.isChecked())

    def apply_filters(self) -> None:
        if self.app_session.is_locked:
            return
        try:
            self.model.set_query(self.current_query())
        except ClosePlanError as exc:
            show_error(self, "Cannot list deals", error_text(exc))
        self._after_load()

    def refresh(self) -> None:
        if self.app_session.is_locked:
            return
        selected = self.selected_deal()
        try:
            self.model.reload()
            self.pipeline.set_rows(deal_list.pipeline(self.app_session.core))
        except ClosePlanError as exc:
            show_error(self, "Cannot list deals", error_text(exc))
        self._after_load(selected.id if selected else None)

    def _after_load(self, select_id: str | None = None) -> None:
        total = self.model.total
        q = self.model.query
        if total:
            self.table_stack.setCurrentWidget(self.table)
        else:
            self.table_stack.setCurrentWidget(self.empty)
            if q.search or q.status:
                self.empty.setText("No deals match this search or filter.\nClear the search "
                                   "box or choose “All statuses”.")
            elif q.deleted:
                self.empty.setText("No deleted deals. Deals you delete appear here, ready "
                                   "to restore.")
            else:
                self.empty.setText("No deals yet.\nCreate one with “New deal” (Ctrl+N) or "
                                   "import a CSV file (Ctrl+I).")
        label = "deleted deals" if q.deleted else "deals"
        if self.model.total_exact:
            self.count_label.setText(f"{total:,} {label}")
        else:  # a broad search counts up to a bound
            self.count_label.setText(f"more than {total - 1:,} {label}")
        row = 0
        if select_id:
            row = next((i for i, d in enumerate(self.model.rows) if d.id == select_id), 0)
        if self.model.rowCount():
            self.table.selectRow(row)
        else:
            self.detail.show_deal(None)
        self._update_buttons()

    # ---- selection ------------------------------------------------------------------

    def selected_deal(self) -> DealSummary | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.deal_at(rows[0].row()) if rows else None

    def _selection_changed(self, _a: QItemSelection, _b: QItemSelection) -> None:
        self.detail.show_deal(self.selected_deal())
        self._update_buttons()

    def _update_buttons(self) -> None:
        deal = self.selected_deal()
        session = self.app_session.core
        mine = deal is not None and deals.may_change(session, deal.created_by_id)
        self.edit_button.setEnabled(mine and deal is not None and deal.deleted_at is None)
        self.delete_button.setEnabled(mine and deal is not None and deal.deleted_at is None)
        self.restore_button.setEnabled(mine and deal is not None and
                                       deal.deleted_at is not None)
        self.restore_button.setVisible(self.deleted_action.isChecked())
        self.delete_button.setVisible(not self.deleted_action.isChecked())

    def _after_reveal(self) -> None:
        pass

    # ---- actions --------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def new_deal(self) -> None:
        if self.app_session.is_locked:
            return
        dialog = DealDialog(self.app_session, None, self)
        if dialog.exec() and dialog.result_deal:
            self.refresh_and_select(dialog.result_deal.id)

    def edit_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or self.app_session.is_locked or not self.edit_button.isEnabled():
            return
        dialog = DealDialog(self.app_session, deal, self)
        if dialog.exec() and dialog.result_deal:
            self.refresh_and_select(deal.id)

    def delete_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or not self.delete_button.isEnabled():
            return
        if not confirm(self, "Delete deal", f"Delete “{deal.title}”?\n\nIt moves to Deleted "
                       "deals, where you can restore it.", "Delete"):
            return
        try:
            deals.delete_deal(self.app_session.core, deal.id)
        except ClosePlanError as exc:
            show_error(self, "Cannot delete", error_text(exc))
        self.refresh()

    def restore_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or not self.restore_button.isEnabled():
            return
        try:
            deals.restore_deal(self.app_session.core, deal.id)
        except ClosePlanError as exc:
            show_error(self, "Cannot restore", error_text(exc))
        self.refresh()

    def refresh_and_select(self, deal_id: str) -> None:
        self.model.reload()
        self.pipeline.set_rows(deal_list.pipeline(self.app_session.core))
        self._after_load(deal_id)

    def import_csv(self) -> None:
        if self.app_session.is_locked:
            return
        name, _ = QFileDialog.getOpenFileName(self, "Import deals from CSV", str(Path.home()),
                                              "CSV files (*.csv);;All files (*)")
        if not name:
            return
        session = self.app_session.core

        def work(progress: object, cancel: object) -> int:
            rows = deal_import.parse_import(paths.read_user_file(Path(name)))
            return deal_import.import_deals(session, rows, progress, cancel)  # type: ignore[arg-type]

        task = Task(self, "Importing deals", work)
        task.succeeded.connect(lambda n: (QMessageBox.information(
            self, "Import finished", f"Imported {n:,} deals."), self.refresh()))
        task.failed.connect(lambda m: show_error(self, "Import failed", m + "\n\nNothing was "
                                                 "imported."))
        task.cancelled.connect(lambda: QMessageBox.information(
            self, "Import cancelled", "Nothing was imported."))
        task.finished.connect(lambda: self.tasks.remove(task))
        self.tasks.append(task)
        task.start()

    # ---- locking --------------------------------------------------------------------

    def clear_sensitive(self) -> None:
        self.detail.clear_sensitive()
