"""The audit's three tabs, each with what it holds: its model, table, filter bar, count
line and empty state."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QComboBox, QFrame, QLabel, QWidget

from ...core.domain.enums import AccessAction, SecurityEventType
from ...core.usecases import audit, audit_stats
from ...core.usecases.audit import AuditFilter
from ...core.usecases.audit_stats import RevealStat
from ..deals.history import DealHistoryDialog
from ..icons import icon
from ..kit import palette
from ..kit.widgets import button
from .models import (
    ACCESS_COLUMNS,
    ACTION_HINTS,
    AccessModel,
    EventsModel,
    PagingModel,
    RevealsModel,
    SessionGetter,
)
from .widgets import (
    DateFilter,
    DealPicker,
    EmptyState,
    TablePage,
    clear_button,
    date_range,
    set_widths,
    table_view,
    user_combo,
)
from .words import ACTION_WORDS, EVENT_WORDS

# Rows of a change to a deal: they open its history.
CHANGE_ACTIONS = (AccessAction.DEAL_CREATE, AccessAction.DEAL_UPDATE, AccessAction.DEAL_DELETE)


class _LogTab(TablePage):
    """A paged log (access or events) with its filter bar, its counts and a detail view
    of the selected row (whole, however long its reason or detail)."""

    noun, plural = "entry", "entries"
    # The empty state: with filters, without (headline, hint).
    empty_filtered: tuple[str, str] = ("", "")
    empty_none: tuple[str, str] = ("", "")

    def __init__(self, model: PagingModel[Any], view_name: str, accessible: str,
                 empty: EmptyState, session: SessionGetter) -> None:
        view = table_view(view_name, accessible)
        view.setModel(model)
        super().__init__(view, empty)
        model.setParent(self)
        self.model = model
        self._session = session
        model.loaded.connect(self.loaded)
        model.rowsInserted.connect(lambda *_a: self.count_rows())
        self.details = QLabel()
        self.details.setObjectName("auditDetails")
        self.details.setAccessibleName("Selected entry")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse |
                                             Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.details.setFrameShape(QFrame.Shape.StyledPanel)
        self.details.setMargin(6)
        self.details.hide()
        self.layout_.insertWidget(self.layout_.indexOf(self.stack) + 1, self.details)
        view.selectionModel().selectionChanged.connect(lambda *_a: self.show_details())
        model.modelReset.connect(self.show_details)

    def filter(self) -> AuditFilter:
        raise NotImplementedError

    def filter_widgets(self) -> tuple[QWidget, ...]:
        """The bar's filters, each reset by `clear_filters`."""
        raise NotImplementedError

    def apply_filter(self) -> None:
        if self._session() is not None:
            self.model.set_filter(self.filter())

    def clear_filters(self) -> None:
        widgets = self.filter_widgets()
        for w in widgets:
            w.blockSignals(True)
        for w in widgets:
            if isinstance(w, QComboBox):
                w.setCurrentIndex(0)
            elif isinstance(w, (DateFilter, DealPicker)):
                w.reset()
        for w in widgets:
            w.blockSignals(False)
        self.apply_filter()

    def show_details(self) -> None:
        rows = self.view.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        if 0 <= row < len(self.model.rows):
            self.details.setText(self.model.describe(row))
            self.details.show()
        else:
            self.details.clear()
            self.details.hide()

    def count_rows(self) -> None:
        shown, total = self.model.rowCount(), self.model.total
        if self.model.remote is not None:  # pages by cursor: no count of the rest
            words = self.noun if shown == 1 else self.plural
            more = "; scroll for more" if self.model.canFetchMore() or self.model.busy else ""
            self.count.setText(f"{shown:,} {words}{more}" if shown else "")
            return
        if not total:
            self.count.setText("")
        elif shown >= total:
            self.count.setText(f"{total:,} {self.noun if total == 1 else self.plural}")
        else:
            self.count.setText(f"Showing {shown:,} of {total:,} {self.plural}; scroll for more")

    def loaded(self) -> None:
        self.count_rows()
        filtered = self.model.filter != AuditFilter()
        self.show_rows(self.model.rowCount() > 0,
                       *(self.empty_filtered if filtered else self.empty_none))

    def set_users(self, people: list[tuple[str, str, str]]) -> None:
        """Fill the user filter with (id, label, email), keeping the chosen user if
        still listed."""
        combo = self.user_filter
        person = icon("user")
        current = combo.currentData()
        combo.blockSignals(True)
        while combo.count() > 1:
            combo.removeItem(1)
        for user_id, label, email in people:
            combo.addItem(person, label, user_id)
            combo.setItemData(combo.count() - 1, email, Qt.ItemDataRole.ToolTipRole)
        index = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(index, 0))  # a user no longer listed: all users
        combo.blockSignals(False)


class AccessTab(_LogTab):
    """Every view of PHI and every change to a deal, filtered by user, deal, action,
    outcome and date."""

    empty_filtered = ("No entries match these filters",
                      "Change or clear the filters to see more of the access log.")
    empty_none = ("No access has been logged yet",
                  "Reveals of PHI and changes to deals appear here as they happen.")

    def __init__(self, session: SessionGetter) -> None:
        super().__init__(AccessModel(session), "accessTable", "Access log",
                         EmptyState("audit", "accessEmpty"), session)
        set_widths(self.view, (190, 130, 190, 260, 76, 200, 120), (3, 5))
        self.filter_user = self.user_filter = user_combo("filterUser", "Filter by user")

        def deals(text: str) -> list[tuple[str, str]]:
            found = session()
            if found is None:
                return []
            # The organisation's log names deals this laptop's log may not: any deal.
            return audit.logged_deals(found, text, logged_only=self.model.remote is None)

        self.filter_deal = DealPicker(deals)
        self.filter_deal.setObjectName("filterDeal")
        self.filter_deal.setAccessibleName("Filter by deal title")
        self.filter_deal.setMinimumWidth(170)
        self.filter_action = QComboBox()
        self.filter_action.setObjectName("filterAction")
        self.filter_action.setAccessibleName("Filter by action")
        self.filter_action.addItem("All", None)
        for action in AccessAction:
            self.filter_action.addItem(ACTION_WORDS[action], action)
            self.filter_action.setItemData(self.filter_action.count() - 1,
                                           ACTION_HINTS[action], Qt.ItemDataRole.ToolTipRole)
        self.filter_outcome = QComboBox()
        self.filter_outcome.setObjectName("filterOutcome")
        self.filter_outcome.setAccessibleName("Filter by outcome")
        for text, value in (("All", None), ("Allowed", True), ("Refused", False)):
            self.filter_outcome.addItem(text, value)
        self.filter_from = DateFilter("From date")
        self.filter_from.setObjectName("filterFrom")
        self.filter_to = DateFilter("To date")
        self.filter_to.setObjectName("filterTo")

        self.add_filter("&User", self.filter_user)
        self.add_filter("&Deal", self.filter_deal)
        self.add_filter("&Action", self.filter_action)
        self.add_filter("&Outcome", self.filter_outcome)
        self.add_filter("&From", self.filter_from)
        self.add_filter("&To", self.filter_to)
        self.filters.addStretch(1)
        self.filters.addWidget(clear_button(self.clear_filters, "clearAccessFilters"))
        # A deal change's row opens the deal's history (issue 15).
        self.history_button = button("Deal history…", "audit", self.open_history,
                                     name="dealHistoryButton")
        self.history_button.setEnabled(False)
        self.filters.addWidget(self.history_button)
        self.view.selectionModel().selectionChanged.connect(
            lambda *_a: self.history_button.setEnabled(self.selected_change() is not None))

        self.view.doubleClicked.connect(self.narrow)
        self.filter_deal.chosen.connect(self.apply_filter)
        for combo in (self.filter_user, self.filter_action, self.filter_outcome):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        for d in (self.filter_from, self.filter_to):
            d.dateChanged.connect(lambda _d: self.apply_filter())

    def filter(self) -> AuditFilter:
        """The access-log filter the bar shows (sent to core as is)."""
        since, until = date_range(self.filter_from, self.filter_to)
        return AuditFilter(user_id=self.filter_user.currentData(),
                           deal_id=self.filter_deal.deal_id,
                           action=self.filter_action.currentData(),
                           success=self.filter_outcome.currentData(), since=since, until=until)

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.filter_user, self.filter_action, self.filter_outcome, self.filter_from,
                self.filter_to, self.filter_deal)

    def selected_change(self) -> str | None:
        """The id of the selected row when it records a change to a deal."""
        rows = self.view.selectionModel().selectedRows()
        row = rows[0].row() if rows else -1
        if not 0 <= row < len(self.model.rows):
            return None
        e = self.model.rows[row]
        return str(e.id) if e.action in CHANGE_ACTIONS and e.success else None

    def open_history(self) -> None:
        found, session = self.selected_change(), self._session()
        if found is not None and session is not None:
            DealHistoryDialog(session, found, self).exec()

    def narrow(self, index: QModelIndex) -> None:
        """Double-click a user or a deal to show only that user's or deal's rows."""
        e = self.model.rows[index.row()] if index.isValid() else None
        if e is None:
            return
        if index.column() == ACCESS_COLUMNS.index("User"):
            found = self.filter_user.findData(e.user_id)
            if found >= 0:
                self.filter_user.setCurrentIndex(found)
        elif index.column() == ACCESS_COLUMNS.index("Deal"):
            self.filter_deal.choose(e.deal_id, e.deal_title)


class EventsTab(_LogTab):
    """Sign-ins, lockouts, user and key changes, exports and break-glass, filtered by
    user, type and date."""

    noun, plural = "event", "events"
    empty_filtered = ("No events match these filters",
                      "Change or clear the filters to see more security events.")
    empty_none = ("No security events yet",
                  "Sign-ins, lockouts, user and key changes appear here.")

    def __init__(self, session: SessionGetter) -> None:
        super().__init__(EventsModel(session), "eventsTable", "Security events",
                         EmptyState("lock", "eventsEmpty"), session)
        set_widths(self.view, (190, 220, 170, 300), (3,))
        self.events_user = self.user_filter = user_combo("eventsFilterUser",
                                                         "Filter events by user")
        self.events_type = QComboBox()
        self.events_type.setObjectName("eventsFilterType")
        self.events_type.setAccessibleName("Filter by event type")
        self.events_type.addItem("All", None)
        for t in sorted(SecurityEventType, key=lambda t: EVENT_WORDS[t]):
            self.events_type.addItem(EVENT_WORDS[t], t.value)
        self.events_from = DateFilter("Events from date")
        self.events_from.setObjectName("eventsFilterFrom")
        self.events_to = DateFilter("Events to date")
        self.events_to.setObjectName("eventsFilterTo")
        self.add_filter("&User", self.events_user)
        self.add_filter("T&ype", self.events_type)
        self.add_filter("&From", self.events_from)
        self.add_filter("&To", self.events_to)
        self.filters.addStretch(1)
        self.filters.addWidget(clear_button(self.clear_filters, "clearEventFilters"))
        for combo in (self.events_user, self.events_type):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        for d in (self.events_from, self.events_to):
            d.dateChanged.connect(lambda _d: self.apply_filter())

    def filter(self) -> AuditFilter:
        since, until = date_range(self.events_from, self.events_to)
        return AuditFilter(user_id=self.events_user.currentData(),
                           event_type=self.events_type.currentData(), since=since, until=until)

    def filter_widgets(self) -> tuple[QWidget, ...]:
        return (self.events_user, self.events_type, self.events_from, self.events_to)


class RevealsTab(TablePage):
    """PHI reveals per user and UTC day, unusual days highlighted, with the legend."""

    def __init__(self) -> None:
        model = RevealsModel()
        proxy = QSortFilterProxyModel()
        proxy.setSourceModel(model)
        proxy.setSortRole(RevealsModel.SORT_ROLE)
        view = table_view("revealsTable", "PHI reveals by day")
        view.setModel(proxy)
        set_widths(view, (150, 260, 110, 110, 110), (1,))
        view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        view.setSortingEnabled(True)
        super().__init__(view, EmptyState("reveal", "revealsEmpty"))
        model.setParent(self)
        proxy.setParent(self)
        self.model, self.proxy = model, proxy
        swatch = palette.flag().name()
        self.legend = QLabel(
            f"<span style='background-color:{swatch}; border:1px solid "
            f"{palette.flag_edge_name()};'>"
            "&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp; <b>Highlighted days</b>: "
            f"{audit_stats.UNUSUAL_RULE}. Days are UTC.")
        self.legend.setObjectName("revealsLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setAccessibleName("Legend: highlighted days are " + audit_stats.UNUSUAL_RULE)
        self.filters.addWidget(self.legend, 1)

    def set_rows(self, rows: list[RevealStat]) -> None:
        self.model.set_rows(rows)
        unusual = sum(1 for r in rows if r.unusual)
        self.show_rows(bool(rows), "No PHI has been revealed yet",
                       "Each time someone reveals a deal's PHI, it is counted here per "
                       "user and day.")
        days = len({r.day for r in rows})
        self.count.setText(
            f"{len(rows):,} user-day{'s' if len(rows) != 1 else ''} over {days:,} "
            f"day{'s' if days != 1 else ''}; {unusual:,} highlighted" if rows else "")
