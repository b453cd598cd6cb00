"""The parts the audit's tabs are built of: date filters, the empty state, the table and
the page that holds a filter bar, the table and a count line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from PySide6.QtCore import QDate, QEvent, QModelIndex, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.errors import ClosePlanError
from ..icons import icon
from ..kit import palette

# A date filter at its minimum shows "Any date".
_ANY_DATE = QDate(2000, 1, 1)


class DateFilter(QDateEdit):
    """A date with a calendar popup whose lowest value means "Any date"."""

    def __init__(self, accessible: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setMinimumDate(_ANY_DATE)
        self.setSpecialValueText("Any date")
        self.setDate(_ANY_DATE)
        self.setAccessibleName(accessible)
        self.setToolTip(f"{accessible} (local time); choose the lowest date for any date")
        self.setMinimumWidth(100)
        # Open the calendar on this month rather than on the "any date" sentinel.
        self.calendarWidget().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.calendarWidget() and event.type() == QEvent.Type.Show
                and self.date() == _ANY_DATE):
            today = QDate.currentDate()
            self.calendarWidget().setCurrentPage(today.year(), today.month())
        return super().eventFilter(watched, event)

    def value(self) -> date | None:
        d = self.date()
        return None if d == _ANY_DATE else date(d.year(), d.month(), d.day())

    def reset(self) -> None:
        self.setDate(_ANY_DATE)


DealLookup = Callable[[str], list[tuple[str, str]]]  # search text -> [(deal id, title)]


class DealPicker(QLineEdit):
    """The deal filter: type part of a deal's title and pick the deal from the list (the
    deals the log mentions, by title; Enter takes the first). `chosen` is emitted when the
    chosen deal changes (None: every deal)."""

    chosen = Signal()
    LOOKUP_DELAY_MS = 200

    def __init__(self, lookup: DealLookup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lookup = lookup
        self.deal_id: str | None = None
        self.setPlaceholderText("Any deal – type a title")
        self.setToolTip("Type part of a deal's title, then pick the deal from the list")
        self.setClearButtonEnabled(True)
        self.choices = QStandardItemModel(self)
        self.completer_ = QCompleter(self.choices, self)
        self.completer_.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer_.setMaxVisibleItems(12)
        self.completer_.activated[QModelIndex].connect(self._activated)
        self.setCompleter(self.completer_)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(self.LOOKUP_DELAY_MS)
        self.timer.timeout.connect(self.refresh_choices)
        self.textEdited.connect(self._edited)
        self.returnPressed.connect(self._take_first)

    def _edited(self, text: str) -> None:
        if self.deal_id is not None:  # typing again un-picks the deal
            self.deal_id = None
            self.chosen.emit()
        if text.strip():
            self.timer.start()

    def refresh_choices(self) -> None:
        self.timer.stop()
        try:
            found = self.lookup(self.text().strip())
        except ClosePlanError:  # a failed lookup offers nothing; the log still shows
            found = []
        self.choices.clear()
        for deal_id, title in found:
            item = QStandardItem(title)
            item.setData(deal_id, Qt.ItemDataRole.UserRole)
            item.setToolTip(f"Deal id: {deal_id}")
            self.choices.appendRow(item)
        if self.hasFocus() and found:
            self.completer_.complete()

    def _activated(self, index: QModelIndex) -> None:
        deal_id = index.data(Qt.ItemDataRole.UserRole)
        if isinstance(deal_id, str):
            self.choose(deal_id, str(index.data()))

    def _take_first(self) -> None:
        if self.deal_id is None and self.text().strip():
            self.refresh_choices()
            if self.choices.rowCount():
                first = self.choices.item(0)
                self.completer_.popup().hide()
                self.choose(str(first.data(Qt.ItemDataRole.UserRole)), first.text())

    def choose(self, deal_id: str, title: str) -> None:
        """Show only `deal_id`'s rows (its title in the field)."""
        self.setText(title)
        self.setCursorPosition(0)
        if deal_id != self.deal_id:
            self.deal_id = deal_id
            self.chosen.emit()

    def reset(self) -> None:
        self.timer.stop()
        self.clear()
        self.deal_id = None


def _local_midnight_utc(d: date) -> datetime:
    return datetime.combine(d, time()).astimezone().astimezone(UTC)


def date_range(start: DateFilter, end: DateFilter) -> tuple[datetime | None, datetime | None]:
    """The UTC bounds of local days From..To (To inclusive)."""
    a, b = start.value(), end.value()
    since = _local_midnight_utc(a) if a else None
    until = _local_midnight_utc(b + timedelta(days=1)) if b else None
    return since, until


def _caption(text: str, buddy: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(buddy)
    label.setObjectName("filterCaption")
    plain = text.replace("&", "")
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance(plain) + 4)
    return label


class EmptyState(QWidget):
    """A centered icon, headline and hint shown instead of an empty table."""

    def __init__(self, icon_name: str, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setPixmap(icon(icon_name, palette.muted_name()).pixmap(QSize(48, 48)))
        self.headline = QLabel()
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.headline.setFont(font)
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {palette.muted_name()};")
        for w in (self.picture, self.headline, self.hint):
            layout.addWidget(w)
        layout.addStretch(2)

    def show_text(self, headline: str, hint: str) -> None:
        self.headline.setText(headline)
        self.hint.setText(hint)
        self.setAccessibleName(headline)

    def text(self) -> str:
        return f"{self.headline.text()} {self.hint.text()}".strip()


def table_view(object_name: str, accessible: str) -> QTableView:
    view = QTableView()
    view.setObjectName(object_name)
    view.setAccessibleName(accessible)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(False)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(28)
    header = view.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setHighlightSections(False)
    header.setStretchLastSection(False)
    return view


def set_widths(view: QTableView, widths: tuple[int, ...], stretch: tuple[int, ...]) -> None:
    header = view.horizontalHeader()
    for col, width in enumerate(widths):
        if col in stretch:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        else:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            view.setColumnWidth(col, width)


class TablePage(QWidget):
    """A filter bar, then the table or its empty state, then a count line."""

    def __init__(self, view: QTableView, empty: EmptyState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view, self.empty = view, empty
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 10, 0, 8)
        self.layout_.setSpacing(8)
        self.filters = QHBoxLayout()
        self.filters.setSpacing(5)
        self.layout_.addLayout(self.filters)
        self.stack = QStackedWidget()
        self.stack.addWidget(view)
        self.stack.addWidget(empty)
        self.layout_.addWidget(self.stack, 1)
        self.footer = QHBoxLayout()
        self.count = QLabel()
        self.count.setObjectName("countLabel")
        self.count.setStyleSheet(f"color: {palette.muted_name()};")
        self.footer.addWidget(self.count)
        self.footer.addStretch(1)
        self.layout_.addLayout(self.footer)

    def add_filter(self, caption: str, widget: QWidget) -> None:
        self.filters.addWidget(_caption(caption, widget))
        self.filters.addWidget(widget)
        self.filters.addSpacing(4)

    def show_rows(self, has_rows: bool, headline: str = "", hint: str = "") -> None:
        if has_rows:
            self.stack.setCurrentWidget(self.view)
        else:
            self.empty.show_text(headline, hint)
            self.stack.setCurrentWidget(self.empty)


def user_combo(name: str, accessible: str) -> QComboBox:
    """A user filter: "All users", then the tenant's users (filled on refresh)."""
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setAccessibleName(accessible)
    combo.setMinimumContentsLength(12)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.addItem(icon("users"), "All users", None)
    return combo


def clear_button(slot: Callable[[], None], name: str) -> QToolButton:
    """The "Clear" button at the end of a filter bar."""
    b = QToolButton()
    b.setObjectName(name)
    b.setText("Clear")
    b.setIcon(icon("filter"))
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    b.setAutoRaise(True)
    b.setAccessibleName("Clear filters")
    b.setToolTip("Clear all filters")
    b.clicked.connect(lambda _checked=False: slot())
    return b
