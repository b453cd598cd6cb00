"""The deals pane: search as you type, status, owner and close-date filters, saved views
(`views.ViewsBar`), the paging table or the board by status (board.py, switched in
board_mode.py), the pipeline summary and the detail panel, with create, edit, delete,
restore and the CSV export of the view.

It is long because it wires these parts together (each has its own module: views.py,
owner_bar.py, board_mode.py, detail.py, model.py); it holds no part's own logic."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.enums import DealStatus
from ...core.usecases import deal_list, deals, forecast, owners
from ...core.usecases.deal_list import DealQuery, DealSummary
from ...core.usecases.frame import AuthSession
from ..icons import icon
from ..kit import dialogs
from ..kit.formatting import amount
from ..kit.ops import Kind
from ..kit.widgets import AmountDelegate, button, heading, muted
from ..pane import Command, Pane
from ..signed_in import SignedIn
from .board_mode import MOVE_SHORTCUT, BoardMode
from .detail import DealDetail
from .dialog import DealDialog, Draft
from .import_wizard import ImportWizard
from .model import COLUMNS, STATUS_LABELS, DealsModel
from .owner_bar import ForecastLine, OwnerFilters
from .pipeline import PipelineWidget
from .tasks import TasksDueDialog
from .views import ViewsBar

SEARCH_DELAY_MS = 120
# The detail panel's width: at 1366x768 beside the admin's navigation the list keeps
# whole titles with the Owner and Closes columns; the splitter widens it on demand.
DETAIL_WIDTH = 280
OWNER_MAX = 150  # px; a longer name is elided (the detail panel shows it whole)
WRITES = frozenset({Kind.DEALS, Kind.AUDIT})  # every deal write logs itself


class DealsPane(Pane):
    key = "deals"
    title = "Deals"
    icon_name = "deals"
    shortcut = "Ctrl+1"
    shows = frozenset({Kind.DEALS})
    commands = (
        Command("file", "&New Deal…", lambda p: p.new_deal(), QKeySequence.StandardKey.New,
                "add"),
        Command("file", "&Import Deals from CSV…", lambda p: p.import_csv(), "Ctrl+I",
                "download"),
        Command("edit", "&Edit Deal…", lambda p: p.edit_deal(), "Ctrl+E", "edit"),
        Command("edit", "&Delete Deal…", lambda p: p.delete_deal(),
                QKeySequence.StandardKey.Delete, "delete"),
        Command("edit", "&Restore Deal", lambda p: p.restore_deal(), "Ctrl+Shift+R",
                "restore"),
        Command("edit", "&Find Deals", lambda p: p.focus_search(),
                QKeySequence.StandardKey.Find, "search", separator_before=True),
        Command("edit", "&Reveal PHI", lambda p: p.detail.reveal(), "Ctrl+Shift+P", "reveal"),
        Command("edit", "&Hide PHI", lambda p: p.detail.hide_phi(), "Ctrl+Shift+H", "hide"),
        Command("view", "Show &Deleted Deals", own_action=lambda p: p.deleted_action),
        Command("view", "&Tasks Due…", lambda p: p.show_tasks(), "Ctrl+Shift+T", "calendar"),
        Command("view", "&Board View", own_action=lambda p: p.board.action,
                separator_before=True),
        Command("edit", "&Move Deal To…", lambda p: p.board.move_menu(), MOVE_SHORTCUT),
        Command("view", "Choose &View…", lambda p: p.views.focus(), "Ctrl+Shift+V", "filter",
                separator_before=True),
        Command("view", "&Save View", lambda p: p.views.save(), "Ctrl+S"),
        Command("view", "Save View &As…", lambda p: p.views.save_as()),
        Command("file", "&Export View as CSV…", lambda p: p.views.export(), "Ctrl+Shift+E",
                "export", separator_before=True),
        Command("file", "Export View with &PHI…", lambda p: p.views.export(with_phi=True)),
    )

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__(signed_in, parent)
        self.model = DealsModel(signed_in.session_or_none, self)
        # A deal to select once the pane next loads (made while the pane was hidden).
        self._select_next: str | None = None
        self.import_wizard: ImportWizard | None = None

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
        # Esc in the search box clears it (the list shows everything again).
        clear = QAction("Clear search", self.search)
        clear.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        clear.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        clear.triggered.connect(self.search.clear)
        self.search.addAction(clear)

        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.setAccessibleName("Status filter")
        self.status_filter.addItem("All statuses", None)
        for st in DealStatus:
            self.status_filter.addItem(STATUS_LABELS[st], st)
        self.status_filter.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.owner_filters = OwnerFilters()  # My deals, owner, close date (issue 15)
        self.owner_filters.changed.connect(self.apply_filters)

        self.deleted_action = QAction(icon("delete"), "Show &Deleted Deals", self)
        self.deleted_action.setCheckable(True)
        self.deleted_action.toggled.connect(lambda _c: self.apply_filters())

        self.new_button = button("New deal", "add", self.new_deal, name="newDealButton")
        self.edit_button = button("Edit", "edit", self.edit_deal, name="editDealButton")
        self.delete_button = button("Delete", "delete", self.delete_deal,
                                    name="deleteDealButton")
        self.restore_button = button("Restore", "restore", self.restore_deal,
                                     name="restoreDealButton")
        self.tasks_button = button("Tasks due", "calendar", self.show_tasks,
                                   name="tasksDueButton")
        self.tasks_button.setToolTip("Your tasks and next steps due today or overdue "
                                     "(Ctrl+Shift+T)")
        self.deleted_toggle = QPushButton(icon("restore"), "Deleted")
        self.deleted_toggle.setObjectName("deletedToggle")
        self.deleted_toggle.setCheckable(True)
        self.deleted_toggle.setAccessibleName("Show deleted deals")
        self.deleted_toggle.toggled.connect(self.deleted_action.setChecked)
        self.deleted_action.toggled.connect(self.deleted_toggle.setChecked)

        self.views = ViewsBar(signed_in, self.apply_view, self.current_query,
                              self._show_view_title, self.start, self)
        # Two rows, so that everything fits at 1366x768: the view, the search and what
        # to do on the first; the filters that narrow the list on the second.
        bar = QVBoxLayout()
        top, filters = QHBoxLayout(), QHBoxLayout()
        bar.addLayout(top)
        bar.addLayout(filters)
        top.addWidget(self.views)
        top.addWidget(self.search, 3)
        self.board = BoardMode(self)
        top.addWidget(self.board.toggle)
        top.addStretch(1)
        for b in (self.new_button, self.edit_button, self.delete_button, self.restore_button):
            top.addWidget(b)
        filters.addWidget(self.status_filter)
        filters.addWidget(self.owner_filters)
        filters.addWidget(self.deleted_toggle)
        filters.addWidget(self.tasks_button)
        filters.addStretch(1)

        self.pipeline = PipelineWidget()
        self.forecast = ForecastLine()
        self.table = QTableView()
        self.table.setObjectName("dealsTable")
        self.table.setAccessibleName("Deals")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Tab leaves the table for the detail panel (Reveal, Copy, Hide) instead of walking
        # its cells and changing the deal; arrows still move through the rows.
        self.table.setTabKeyNavigation(False)
        # The indicator first: enabling sorting then asks the model for the order it
        # already has, so nothing is loaded twice.
        self.table.horizontalHeader().setSortIndicator(COLUMNS.index("Updated"),
                                                       Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # The title tells deals apart: it keeps most of the width, whatever the screen;
        # the other columns are as wide as what they show (fit_columns, after each load).
        header.setMinimumSectionSize(36)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        # Runs after the view has asked the model to sort (connected after it).
        header.sortIndicatorChanged.connect(self._sorted)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._selection_gone)
        self._kept_id: str | None = None
        # A number too wide for its column shows abbreviated, never cut.
        self.table.setItemDelegateForColumn(2, AmountDelegate(self.table))
        self.table.doubleClicked.connect(lambda _i: self.edit_deal())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.empty = QLabel()
        self.empty.setObjectName("dealsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.table_stack = QStackedWidget()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)
        self.table_stack.addWidget(self.board.view)
        self.board.view.current_changed.connect(lambda _d: self._selection_changed())
        self.board.view.opened.connect(lambda _d: self.detail.open_timeline())

        self.detail = DealDetail(signed_in)
        split = QSplitter()
        split.addWidget(self.table_stack)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        # The panel's minimum; the rest goes to the list (its title stretches).
        split.setSizes([1000, DETAIL_WIDTH])

        self.count_label = QLabel()
        self.count_label.setObjectName("dealCount")

        self.title_label = title = heading("Deals")
        title.setObjectName("paneTitle")
        subtitle = muted("Your tenant's pipeline. PHI stays masked until you reveal it, and "
                         "every reveal is logged.")
        subtitle.setObjectName("paneSubtitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(self.pipeline)
        layout.addWidget(self.forecast)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.count_label)
        self.board.restore()
        self._update_buttons()

    # ---- loading --------------------------------------------------------------------

    def current_query(self) -> DealQuery:
        return self.views.with_hidden(DealQuery(
            status=self.status_filter.currentData(), search=self.search.text(),
            sort=self.model.query.sort, descending=self.model.query.descending,
            deleted=self.deleted_action.isChecked(), **self.owner_filters.query_fields()))

    def apply_view(self, query: DealQuery) -> None:
        """Put a saved view's filter and sort on the bar and the table, then load once."""
        widgets = (self.status_filter, self.search, self.deleted_action, self.deleted_toggle,
                   self.table.horizontalHeader(), self.owner_filters)
        for w in widgets:
            w.blockSignals(True)
        self.status_filter.setCurrentIndex(max(0, self.status_filter.findData(query.status))
                                           if query.status is not None else 0)
        self.search.setText(query.search)
        self.owner_filters.set_fields(query)
        self.deleted_action.setChecked(query.deleted)
        self.deleted_toggle.setChecked(query.deleted)
        self.model.query = dataclasses.replace(self.model.query, sort=query.sort,
                                               descending=query.descending)
        self.table.horizontalHeader().setSortIndicator(
            self.model.sort_column(), Qt.SortOrder.DescendingOrder if query.descending
            else Qt.SortOrder.AscendingOrder)
        for w in widgets:
            w.blockSignals(False)
        self.apply_filters()

    def _show_view_title(self, text: str, tip: str) -> None:
        self.title_label.setText(text)
        self.title_label.setToolTip(tip)

    def apply_filters(self) -> None:
        if self.signed_in.is_locked:
            return
        session = self.signed_in.core

        def load() -> None:
            if self.board.on:
                self.board.view.load(self.current_query())
                return
            self.model.set_query(self.current_query())
            self._load_pipeline(session)

        self.read("Cannot list deals", load)
        self._after_load()

    def _load_pipeline(self, session: AuthSession) -> None:
        """The totals of what the list shows: its filter and search (a search too broad
        to count exactly shows the totals of every live deal, and says so)."""
        query = self.model.query
        filtered = query != DealQuery(sort=query.sort, descending=query.descending)
        if self.model.total_exact:
            self.pipeline.set_rows(deal_list.pipeline(session, query), filtered=filtered)
        else:
            self.pipeline.set_rows(deal_list.pipeline(session),
                                   filtered=False)
        self.forecast.set_forecast(forecast.forecast(
            session, query if self.model.total_exact else None),
            filtered=filtered and self.model.total_exact)
        self.owner_filters.load_owners(owners.owner_choices(session), session.user_id)

    def refresh(self) -> None:
        """Reload the table and the pipeline, keeping the selected deal selected."""
        if self.signed_in.is_locked or self.board.moving:
            return  # a board's move reads again only what it changed
        if not self.views.loaded:  # first load: the user's default view
            # Its owner filter needs the owners on the bar first.
            session = self.signed_in.core
            self.read("Cannot list owners", lambda: self.owner_filters.load_owners(
                owners.owner_choices(session), session.user_id))
            self.views.load(choose_default=True)
            if self.views.loaded:
                return
        else:
            self.views.load()
        selected = self.selected_deal()
        select_id, self._select_next = self._select_next, None
        session = self.signed_in.core

        def load() -> None:
            if self.board.on:
                self.board.view.load(self.current_query())
                return
            self.model.reload()
            self._load_pipeline(session)

        self.read("Cannot list deals", load)
        self._after_load(select_id or (selected.id if selected else None))

    def refresh_and_select(self, deal_id: str) -> None:
        self._select_next = deal_id
        self.reload()

    def layout_changed(self) -> None:
        """The list or the board was chosen: show it, loaded for the current filter."""
        self.pipeline.setVisible(not self.board.on)  # the board's headers say the same
        if not self.stale:
            self.apply_filters()

    def _after_load(self, select_id: str | None = None) -> None:
        if self.board.on:
            self._after_board_load(select_id)
            return
        total = self.model.total
        q = self.model.query
        if total:
            self.table_stack.setCurrentWidget(self.table)
        else:
            self.table_stack.setCurrentWidget(self.empty)
            if q.search or q.status or q.narrowed:
                self.empty.setText("No deals match this view, search or filter.\nClear the "
                                   "search box, choose “All statuses”, “Any owner”, “Any "
                                   "close date” or the view “All deals”.")
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
        self.fit_columns()
        self.views.update_state()
        if self.model.rowCount():
            self.table.selectRow(row)
        else:
            self.detail.show_deal(None)
        self._update_buttons()

    def _after_board_load(self, select_id: str | None) -> None:
        self.table_stack.setCurrentWidget(self.board.view)
        total, exact = self.board.view.total()
        label = "deleted deals" if self.board.view.query.deleted else "deals"
        self.count_label.setText(f"{total:,} {label}" if exact else
                                 f"more than {total:,} {label}")
        if select_id:
            for st in self.board.view.models:
                if self.board.view.select(select_id, st):
                    break
        self._selection_changed()

    def fit_columns(self) -> None:
        """Status, Owner and Updated as wide as their header and the rows on screen (a
        longer owner than OWNER_MAX is elided); Value as wide as "$999,999.99" (a wider
        amount shows abbreviated, its tooltip whole); PHI as its header. The title
        stretches over the rest."""
        header = self.table.horizontalHeader()
        for name in ("Status", "Owner", "Closes", "Updated"):
            self.table.resizeColumnToContents(COLUMNS.index(name))
        owner = COLUMNS.index("Owner")
        header.resizeSection(owner, min(header.sectionSize(owner), OWNER_MAX))
        metrics = self.table.fontMetrics()
        header.resizeSection(COLUMNS.index("Value"),
                             metrics.horizontalAdvance(amount(Decimal("999999.99"))) + 16)
        header.resizeSection(COLUMNS.index("PHI"),
                             header.fontMetrics().horizontalAdvance("PHI") + 24)

    # ---- selection ------------------------------------------------------------------

    def _remember_selection(self) -> None:
        deal = self.selected_deal()
        self._kept_id = deal.id if deal else None

    def _selection_gone(self) -> None:
        """A reload drops the selection without a signal: the panel and buttons follow."""
        self.detail.show_deal(None)
        self._update_buttons()

    def _sorted(self, column: int, _order: Qt.SortOrder) -> None:
        header = self.table.horizontalHeader()
        if not self.model.sortable(column):
            # The rows did not move: neither does the arrow.
            descending = self.model.query.descending
            header.blockSignals(True)
            header.setSortIndicator(self.model.sort_column(), Qt.SortOrder.DescendingOrder
                                    if descending else Qt.SortOrder.AscendingOrder)
            header.blockSignals(False)
            header.viewport().update()
            return
        self._after_load(self._kept_id)

    def selected_deal(self) -> DealSummary | None:
        if self.board.on:
            return self.board.view.current_deal()
        rows = self.table.selectionModel().selectedRows()
        return self.model.deal_at(rows[0].row()) if rows else None

    def _selection_changed(self, _a: QItemSelection | None = None,
                           _b: QItemSelection | None = None) -> None:
        self.detail.show_deal(self.selected_deal())
        self._update_buttons()

    def _update_buttons(self) -> None:
        deal = self.selected_deal()
        session = self.signed_in.core
        mine = deal is not None and deals.may_change(session, deal.owner_id)
        self.edit_button.setEnabled(mine and deal is not None and deal.deleted_at is None)
        self.delete_button.setEnabled(mine and deal is not None and deal.deleted_at is None)
        self.restore_button.setEnabled(mine and deal is not None and
                                       deal.deleted_at is not None)
        self.restore_button.setVisible(self.deleted_action.isChecked())
        self.delete_button.setVisible(not self.deleted_action.isChecked())

    # ---- actions --------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def new_deal(self) -> None:
        if self.signed_in.is_locked:
            return
        dialog = DealDialog(self.signed_in, None, self)
        if dialog.exec() and dialog.result_deal:
            self._select_saved(dialog.result_deal.id)

    def edit_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or self.signed_in.is_locked or not self.edit_button.isEnabled():
            return
        dialog = DealDialog(self.signed_in, deal, self)
        if dialog.exec() and dialog.result_deal:
            self._select_saved(deal.id)

    def reopen_draft(self, draft: Draft) -> None:
        """Open again a deal form the lock closed, with what the user had typed."""
        if self.signed_in.is_locked:
            return
        dialog = DealDialog(self.signed_in, draft.deal, self)
        dialog.restore(draft)
        draft.clear()
        if dialog.exec() and dialog.result_deal:
            self._select_saved(dialog.result_deal.id)

    def _select_saved(self, deal_id: str) -> None:
        """Select a deal the dialog saved: the save's announcement has reloaded the pane
        if it is on screen; a hidden pane selects it when it next loads."""
        if self.stale:
            self._select_next = deal_id
        else:
            self._after_load(deal_id)

    def delete_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or not self.delete_button.isEnabled():
            return
        if not dialogs.confirm(self, "Delete deal", f"Delete “{deal.title}”?\n\nIt moves to "
                               "Deleted deals, where you can restore it.", "Delete"):
            return
        session = self.signed_in.core
        self.run_now("Cannot delete", lambda: deals.delete_deal(session, deal.id),
                     changes=WRITES)

    def restore_deal(self) -> None:
        deal = self.selected_deal()
        if deal is None or not self.restore_button.isEnabled():
            return
        session = self.signed_in.core
        self.run_now("Cannot restore", lambda: deals.restore_deal(session, deal.id),
                     changes=WRITES)

    def import_csv(self) -> None:
        """The import wizard: a file, its mapping, its stage values, the check, import."""
        if self.signed_in.is_locked:
            return
        if self.import_wizard is not None:
            self.import_wizard.deleteLater()  # the last one, closed
        self.import_wizard = ImportWizard(self.signed_in, self)
        self.import_wizard.open()

    # ---- locking --------------------------------------------------------------------

    def show_tasks(self) -> None:
        """The signed-in user's tasks due today and overdue (one click from the list)."""
        TasksDueDialog(self.signed_in, self.refresh_and_select, self).exec()

    def clear_sensitive(self) -> None:
        self.detail.clear_sensitive()
