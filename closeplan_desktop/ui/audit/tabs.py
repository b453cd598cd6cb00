"""The audit's three tabs, each with what it holds: its model, table, filter bar, count
line and empty state."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit

from ...core.domain.enums import AccessAction, SecurityEventType
from ...core.usecases import audit_stats
from ...core.usecases.audit import AuditFilter
from ...core.usecases.audit_stats import RevealStat
from ..icons import icon
from ..kit import palette
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
    EmptyState,
    TablePage,
    clear_button,
    date_range,
    set_widths,
    table_view,
    user_combo,
)

FILTER_DELAY_MS = 350


class _LogTab(TablePage):
    """A paged log (access or events) with its filter bar and its counts."""

    noun, plural = "entry", "entries"

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

    def filter(self) -> AuditFilter:
        raise NotImplementedError

    def apply_filter(self) -> None:
        if self._session() is not None:
            self.model.set_filter(self.filter())

    def count_rows(self) -> None:
        shown, total = self.model.rowCount(), self.model.total
        if not total:
            self.count.setText("")
        elif shown >= total:
            self.count.setText(f"{total:,} {self.noun if total == 1 else self.plural}")
        else:
            self.count.setText(f"Showing {shown:,} of {total:,} {self.plural}; scroll for more")

    def loaded(self) -> None:
        self.count_rows()

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

    def __init__(self, session: SessionGetter) -> None:
        super().__init__(AccessModel(session), "accessTable", "Access log",
                         EmptyState("audit", "accessEmpty"), session)
        set_widths(self.view, (150, 140, 110, 260, 80, 200, 130), (3, 5))
        self.filter_user = self.user_filter = user_combo("filterUser", "Filter by user")
        self.filter_deal = QLineEdit()
        self.filter_deal.setObjectName("filterDeal")
        self.filter_deal.setAccessibleName("Filter by deal id")
        self.filter_deal.setPlaceholderText("Deal id")
        self.filter_deal.setClearButtonEnabled(True)
        self.filter_deal.setFixedWidth(116)
        self.filter_action = QComboBox()
        self.filter_action.setObjectName("filterAction")
        self.filter_action.setAccessibleName("Filter by action")
        self.filter_action.addItem("All", None)
        for action in AccessAction:
            self.filter_action.addItem(action.value, action)
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

        self.view.doubleClicked.connect(self.narrow)
        self.deal_timer = QTimer(self)
        self.deal_timer.setSingleShot(True)
        self.deal_timer.setInterval(FILTER_DELAY_MS)
        self.deal_timer.timeout.connect(self.apply_filter)
        self.filter_deal.textEdited.connect(lambda _t: self.deal_timer.start())
        self.filter_deal.returnPressed.connect(self.apply_filter)
        for combo in (self.filter_user, self.filter_action, self.filter_outcome):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filter())
        for d in (self.filter_from, self.filter_to):
            d.dateChanged.connect(lambda _d: self.apply_filter())

    def filter(self) -> AuditFilter:
        """The access-log filter the bar shows (sent to core as is)."""
        since, until = date_range(self.filter_from, self.filter_to)
        deal = self.filter_deal.text().strip() or None
        return AuditFilter(user_id=self.filter_user.currentData(), deal_id=deal,
                           action=self.filter_action.currentData(),
                           success=self.filter_outcome.currentData(), since=since, until=until)

    def apply_filter(self) -> None:
        self.deal_timer.stop()
        super().apply_filter()

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
            self.filter_deal.setText(e.deal_id)
            self.apply_filter()

    def clear_filters(self) -> None:
        widgets = (self.filter_user, self.filter_action, self.filter_outcome,
                   self.filter_from, self.filter_to, self.filter_deal)
        for w in widgets:
            w.blockSignals(True)
        for combo in (self.filter_user, self.filter_action, self.filter_outcome):
            combo.setCurrentIndex(0)
        self.filter_from.reset()
        self.filter_to.reset()
        self.filter_deal.clear()
        for w in widgets:
            w.blockSignals(False)
        self.apply_filter()

    def loaded(self) -> None:
        self.count_rows()
        if self.model.filter != AuditFilter():
            self.show_rows(self.model.rowCount() > 0, "No entries match these filters",
                           "Change or clear the filters to see more of the access log.")
        else:
            self.show_rows(self.model.rowCount() > 0, "No access has been logged yet",
                           "Reveals of PHI and changes to deals appear here as they happen.")


class EventsTab(_LogTab):
    """Sign-ins, lockouts, user and key changes, exports and break-glass, filtered by
    user, type and date."""

    noun, plural = "event", "events"

    def __init__(self, session: SessionGetter) -> None:
        super().__init__(EventsModel(session), "eventsTable", "Security events",
                         EmptyState("lock", "eventsEmpty"), session)
        set_widths(self.view, (150, 190, 170, 300), (3,))
        self.events_user = self.user_filter = user_combo("eventsFilterUser",
                                                         "Filter events by user")
        self.events_type = QComboBox()
        self.events_type.setObjectName("eventsFilterType")
        self.events_type.setAccessibleName("Filter by event type")
        self.events_type.addItem("All", None)
        for t in SecurityEventType:
            self.events_type.addItem(t.value, t.value)
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

    def clear_filters(self) -> None:
        widgets = (self.events_user, self.events_type, self.events_from, self.events_to)
        for w in widgets:
            w.blockSignals(True)
        self.events_user.setCurrentIndex(0)
        self.events_type.setCurrentIndex(0)
        self.events_from.reset()
        self.events_to.reset()
        for w in widgets:
            w.blockSignals(False)
        self.apply_filter()

    def loaded(self) -> None:
        self.count_rows()
        if self.model.filter != AuditFilter():
            self.show_rows(self.model.rowCount() > 0, "No events match these filters",
                           "Change or clear the filters to see more security events.")
        else:
            self.show_rows(self.model.rowCount() > 0, "No security events yet",
                           "Sign-ins, lockouts, user and key changes appear here.")


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
