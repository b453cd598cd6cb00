"""The Audit pane (admins): the access log, security events and PHI reveals by day, with
Verify chain and Export.

Everything shown comes from core's admin use cases (`audit.list_access`, `list_events`,
`audit_stats.reveals_per_user_day`); the pane only filters, pages and colors. Which days
are unusual is decided in core. Verify and Export run off the UI thread (ui.worker.Task).
"""


from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.domain.enums import AccessAction, SecurityEventType
from ..core.domain.errors import ClosePlanError
from ..core.domain.progress import CancelToken, Progress
from ..core.store.chain import ChainReport
from ..core.usecases import audit, audit_stats, users
from ..core.usecases.audit import AccessEntry, AuditFilter, EventEntry
from ..core.usecases.audit_stats import RevealStat
from ..core.usecases.frame import AuthSession
from .icons import icon
from .messages import error_text, show_error
from .pane import Pane
from .session import AppSession
from .worker import Task

PAGE = 200
ACCESS_COLUMNS = ("Time", "User", "Action", "Deal", "Outcome", "Reason", "Device / Seq")
EVENT_COLUMNS = ("Time", "Type", "User", "Detail")
REVEAL_COLUMNS = ("Day (UTC)", "User", "Reveals", "Refused", "Break-glass")
ACTION_HINTS = {
    AccessAction.PHI_ACCESS: "PHI was revealed (or a reveal was attempted)",
    AccessAction.DEAL_CREATE: "A deal was created",
    AccessAction.DEAL_UPDATE: "A deal was changed or restored",
    AccessAction.DEAL_DELETE: "A deal was deleted",
}
# Event types drawn in the alert color (presentation only: core decides nothing here).
ALERT_EVENTS = frozenset({SecurityEventType.LOGIN_FAILURE, SecurityEventType.LOCKOUT,
                          SecurityEventType.LOGIN_LOCKED, SecurityEventType.ACCESS_DENIED})
FLAG_EVENTS = frozenset({SecurityEventType.BREAK_GLASS})
# Detail keys that hold a user id: shown as the user's name when known.
_USER_KEYS = ("user", "owner")
# A date filter at its minimum shows "Any date".
_ANY_DATE = QDate(2000, 1, 1)
FILTER_DELAY_MS = 350

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
Index = QModelIndex | QPersistentModelIndex
SessionGetter = Callable[[], AuthSession | None]
Row = TypeVar("Row")


# ---- colors -------------------------------------------------------------------------

def _dark() -> bool:
    return QGuiApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128


def amber() -> QColor:
    """The subtle highlight of flagged rows (break-glass, unusual days)."""
    return QColor("#4a3a10") if _dark() else QColor("#fff1cc")


def alert() -> QColor:
    """The text color of refusals and failures."""
    return QColor("#ef8a80") if _dark() else QColor("#b3261e")


def muted() -> str:
    """Secondary text: the text color blended halfway into the window color."""
    pal = QGuiApplication.palette()
    a, b = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
    mix = 0.45
    return QColor(round(a.red() * (1 - mix) + b.red() * mix),
                  round(a.green() * (1 - mix) + b.green() * mix),
                  round(a.blue() * (1 - mix) + b.blue() * mix)).name()


def local_time(ts: datetime) -> str:
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _utc_text(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- models -------------------------------------------------------------------------

class PagingModel(QAbstractTableModel, Generic[Row]):
    """Pages rows in from a core list use case as the view scrolls (fetchMore).

    Each reload pins the upper time bound to "now", so that rows logged while the admin
    scrolls do not shift the pages; Refresh shows them.
    """

    failed = Signal(str)
    loaded = Signal()
    columns: tuple[str, ...] = ()

    def __init__(self, session_getter: SessionGetter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session_getter
        self.filter = AuditFilter()
        self._pinned = AuditFilter()
        self.rows: list[Row] = []
        self._display: list[tuple[str, ...]] = []
        self.total = 0
        self.names: dict[str, str] = {}

    # subclasses: one page from core, and a row's display strings
    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[Row], int]:
        raise NotImplementedError

    def _render(self, row: Row) -> tuple[str, ...]:
        raise NotImplementedError

    def set_filter(self, f: AuditFilter) -> None:
        self.filter = f
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()
        now = datetime.now(UTC)
        until = self.filter.until if self.filter.until and self.filter.until < now else now
        self._pinned = replace(self.filter, until=until)
        self._fetch()
        self.loaded.emit()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()
        self.loaded.emit()

    def _fetch(self) -> None:
        session = self._session()
        if session is None:
            return
        try:
            page, total = self._page(session, self._pinned, len(self.rows))
        except ClosePlanError as exc:
            self.total = len(self.rows)
            self.failed.emit(error_text(exc))
            return
        if not page:
            self.total = len(self.rows)
            return
        self.total = max(total, len(self.rows) + len(page))
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self.rows.extend(page)
        self._display.extend(self._render(r) for r in page)
        self.endInsertRows()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._fetch()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._display)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def _name(self, user_id: str | None, email: str | None) -> str:
        if user_id and user_id in self.names:
            return self.names[user_id]
        return email or ""


class AccessModel(PagingModel[AccessEntry]):
    columns = ACCESS_COLUMNS
    OUTCOME = 4
    REASON = 5

    def __init__(self, session_getter: SessionGetter, parent: QObject | None = None) -> None:
        super().__init__(session_getter, parent)
        self._glass_icon: QIcon | None = None

    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[AccessEntry], int]:
        return audit.list_access(session, f, offset=offset, limit=PAGE)

    def _render(self, e: AccessEntry) -> tuple[str, ...]:
        return (local_time(e.timestamp), self._name(e.user_id, e.user_email), e.action,
                e.deal_title, "Allowed" if e.success else "Refused", e.reason or "",
                f"{e.device_id[:8]} · #{e.seq}")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        e = self.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[row][col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.OUTCOME and not e.success:
            return alert()
        if role == Qt.ItemDataRole.BackgroundRole and e.reason:
            return amber()
        if role == Qt.ItemDataRole.DecorationRole and col == self.REASON and e.reason:
            if self._glass_icon is None:
                self._glass_icon = icon("break-glass")
            return self._glass_icon
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(e, col)
        return None

    @staticmethod
    def _tooltip(e: AccessEntry, col: int) -> str | None:
        if col == 0:
            return _utc_text(e.timestamp)
        if col == 1:
            return f"{e.user_email}\nDouble-click to show only this user"
        if col == 2:
            return ACTION_HINTS.get(AccessAction(e.action), e.action) + f" ({e.access_type})"
        if col == 3:
            return f"{e.deal_title}\nDeal id: {e.deal_id}\nDouble-click to show only this deal"
        if col == 4:
            return "Allowed" if e.success else "Refused: the attempt was denied and logged"
        if col == 5 and e.reason:
            return f"Break-glass reason: {e.reason}"
        if col == 6:
            return f"Device {e.device_id}, sequence {e.seq} in its hash chain"
        return None


class EventsModel(PagingModel[EventEntry]):
    columns = EVENT_COLUMNS
    TYPE = 1

    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[EventEntry], int]:
        return audit.list_events(session, f, offset=offset, limit=PAGE)

    def _render(self, e: EventEntry) -> tuple[str, ...]:
        return (local_time(e.timestamp), e.type, self._name(e.user_id, e.user_email),
                self._detail(e.detail))

    def _detail(self, text: str) -> str:
        try:
            detail = json.loads(text)
        except ValueError:
            return text
        if not isinstance(detail, dict):
            return text
        parts = []
        for key, value in detail.items():
            if key in _USER_KEYS and isinstance(value, str) and value in self.names:
                value = self.names[value]
            parts.append(f"{key.replace('_', ' ')}: {value}")
        return ", ".join(parts)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        e = self.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[row][col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.TYPE and e.type in ALERT_EVENTS:
            return alert()
        if role == Qt.ItemDataRole.BackgroundRole and e.type in FLAG_EVENTS:
            return amber()
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return _utc_text(e.timestamp)
            if col == 2:
                return e.user_email
            if col == 3:
                return f"{self._display[row][col]}\nDevice {e.device_id}, sequence {e.seq}"
        return None


class RevealsModel(QAbstractTableModel):
    """PHI reveals per user and UTC day, as core computes them (with `unusual`)."""

    SORT_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[RevealStat] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def set_rows(self, rows: list[RevealStat]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(REVEAL_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return REVEAL_COLUMNS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return _RIGHT if section >= 2 else _LEFT
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, col = self.rows[index.row()], index.column()
        values: tuple[Any, ...] = (r.day, r.user_name, r.reveals, r.refused, r.break_glass)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return r.day.strftime("%Y-%m-%d  %a")
            return f"{values[col]:,}" if col >= 2 else values[col]
        if role == self.SORT_ROLE:
            return r.day.toordinal() if col == 0 else values[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if col >= 2 else _LEFT
        if role == Qt.ItemDataRole.BackgroundRole and r.unusual:
            return amber()
        if role == Qt.ItemDataRole.FontRole and r.unusual:
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and r.refused:
            return alert()
        if role == Qt.ItemDataRole.ToolTipRole:
            usual = f"Usual: {r.usual_reveals:g} reveals a day ({r.user_email})"
            return f"Unusual: {r.why}\n{usual}" if r.unusual else usual
        return None

    def stat_at(self, row: int) -> RevealStat | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None


# ---- widgets ------------------------------------------------------------------------

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
        self.picture.setPixmap(icon(icon_name, muted()).pixmap(QSize(48, 48)))
        self.headline = QLabel()
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.headline.setFont(font)
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {muted()};")
        for w in (self.picture, self.headline, self.hint):
            layout.addWidget(w)
        layout.addStretch(2)

    def show_text(self, headline: str, hint: str) -> None:
        self.headline.setText(headline)
        self.hint.setText(hint)
        self.setAccessibleName(headline)

    def text(self) -> str:
        return f"{self.headline.text()} {self.hint.text()}".strip()


def _table(object_name: str, accessible: str) -> QTableView:
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


def _widths(view: QTableView, widths: tuple[int, ...], stretch: tuple[int, ...]) -> None:
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
        self.count.setStyleSheet(f"color: {muted()};")
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


# ---- the pane -----------------------------------------------------------------------

class AuditPane(Pane):
    """Admins: who saw which PHI and when, security events, unusual reveal days;
    verify the hash chain and export the audit."""

    title = "Audit"
    ACCESS, EVENTS, REVEALS = range(3)

    def __init__(self, app_session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(app_session, parent)
        self.setObjectName("auditPane")
        self.task: Task | None = None
        self.last_message = ""

        def session() -> AuthSession | None:
            return None if app_session.is_locked else app_session.core

        self._session = session
        self.access_model = AccessModel(session, self)
        self.events_model = EventsModel(session, self)
        self.reveals_model = RevealsModel(self)
        self.reveals_proxy = QSortFilterProxyModel(self)
        self.reveals_proxy.setSourceModel(self.reveals_model)
        self.reveals_proxy.setSortRole(RevealsModel.SORT_ROLE)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._header())
        self.error_banner = self._error_banner()
        layout.addWidget(self.error_banner)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("auditTabs")
        self.tabs.setAccessibleName("Audit views")
        self.tabs.setDocumentMode(True)
        self.access_page = self._access_tab()
        self.events_page = self._events_tab()
        self.reveals_page = self._reveals_tab()
        self.tabs.addTab(self.access_page, icon("audit"), "Access log")
        self.tabs.addTab(self.events_page, icon("lock"), "Security events")
        self.tabs.addTab(self.reveals_page, icon("reveal"), "PHI reveals by day")
        self.tabs.setTabToolTip(self.ACCESS, "Every view of PHI and every change to a deal")
        self.tabs.setTabToolTip(self.EVENTS, "Sign-ins, lockouts, user and key changes, "
                                "exports, break-glass")
        self.tabs.setTabToolTip(self.REVEALS, "PHI reveals per user and day, unusual days "
                                "highlighted")
        body = QVBoxLayout()
        body.setContentsMargins(12, 0, 12, 0)
        body.addWidget(self.tabs, 1)
        layout.addLayout(body, 1)

        for model in (self.access_model, self.events_model):
            model.failed.connect(self._show_failure)
        self.access_model.loaded.connect(self._access_loaded)
        self.events_model.loaded.connect(self._events_loaded)
        for model, page in ((self.access_model, self.access_page),
                            (self.events_model, self.events_page)):
            model.rowsInserted.connect(lambda *_a, m=model, p=page: self._count(m, p))

    # ---- construction ---------------------------------------------------------------

    def _header(self) -> QWidget:
        box = QWidget()
        box.setObjectName("auditHeader")
        row = QHBoxLayout(box)
        row.setContentsMargins(14, 14, 12, 10)
        text = QVBoxLayout()
        text.setSpacing(2)
        heading = QLabel("Audit")
        heading.setObjectName("paneTitle")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        heading.setFont(font)
        sub = QLabel("Every view of PHI, every change to a deal and every security event. "
                     "The log is append-only and hash-chained.")
        sub.setObjectName("paneSubtitle")
        sub.setStyleSheet(f"color: {muted()};")
        sub.setWordWrap(True)
        text.addWidget(heading)
        text.addWidget(sub)
        row.addLayout(text, 1)
        self.verify_button = self._button("Verify chain", "verify", self.verify_chain,
                                          "verifyButton",
                                          "Check that no audit row was changed, removed, "
                                          "inserted or reordered")
        self.export_button = self._button("Export…", "export", self.export_audit,
                                          "exportButton",
                                          "Save the audit (current filters) as CSV or "
                                          "FHIR R4 JSON")
        self.refresh_button = self._button("Refresh", "refresh", self.refresh,
                                           "refreshButton", "Reload the audit")
        for b in (self.verify_button, self.export_button, self.refresh_button):
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        return box

    def _button(self, text: str, icon_name: str, slot: Callable[[], None], name: str,
                tip: str) -> QPushButton:
        b = QPushButton(icon(icon_name), text)
        b.setObjectName(name)
        b.setAccessibleName(text.rstrip("…"))
        b.setToolTip(tip)
        b.setIconSize(QSize(18, 18))
        b.clicked.connect(lambda _checked=False: slot())
        return b

    def _error_banner(self) -> QWidget:
        wrapper = QWidget()
        outer = QVBoxLayout(wrapper)
        outer.setContentsMargins(12, 0, 12, 8)
        frame = QFrame()
        frame.setObjectName("auditError")
        frame.setStyleSheet("#auditError { background: #fdecea; border: 1px solid #f5c2bd; "
                            "border-radius: 4px; } #auditError QLabel { color: #7a1c14; }")
        row = QHBoxLayout(frame)
        row.setContentsMargins(10, 6, 10, 6)
        pic = QLabel()
        pic.setPixmap(icon("warning", "#b3261e").pixmap(QSize(18, 18)))
        self.error_text = QLabel()
        self.error_text.setWordWrap(True)
        self.error_text.setAccessibleName("Audit error")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setAccessibleName("Dismiss error")
        close.clicked.connect(lambda _checked=False: wrapper.hide())
        row.addWidget(pic)
        row.addWidget(self.error_text, 1)
        row.addWidget(close)
        outer.addWidget(frame)
        wrapper.hide()
        return wrapper

    def _user_combo(self, name: str, accessible: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        combo.setAccessibleName(accessible)
        combo.setMinimumContentsLength(12)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.addItem(icon("users"), "All users", None)
        return combo

    def _clear_button(self, slot: Callable[[], None], name: str) -> QToolButton:
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

    def _access_tab(self) -> TablePage:
        self.access_table = _table("accessTable", "Access log")
        self.access_table.setModel(self.access_model)
        _widths(self.access_table, (150, 140, 110, 260, 80, 200, 130), (3, 5))
        page = TablePage(self.access_table, EmptyState("audit", "accessEmpty"))

        self.filter_user = self._user_combo("filterUser", "Filter by user")
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

        page.add_filter("&User", self.filter_user)
        page.add_filter("&Deal", self.filter_deal)
        page.add_filter("&Action", self.filter_action)
        page.add_filter("&Outcome", self.filter_outcome)
        page.add_filter("&From", self.filter_from)
        page.add_filter("&To", self.filter_to)
        page.filters.addStretch(1)
        page.filters.addWidget(self._clear_button(self.clear_access_filters,
                                                  "clearAccessFilters"))

        self.access_table.doubleClicked.connect(self._narrow_access)
        self.deal_timer = QTimer(self)
        self.deal_timer.setSingleShot(True)
        self.deal_timer.setInterval(FILTER_DELAY_MS)
        self.deal_timer.timeout.connect(self.apply_access_filter)
        self.filter_deal.textEdited.connect(lambda _t: self.deal_timer.start())
        self.filter_deal.returnPressed.connect(self.apply_access_filter)
        for combo in (self.filter_user, self.filter_action, self.filter_outcome):
            combo.currentIndexChanged.connect(lambda _i: self.apply_access_filter())
        for d in (self.filter_from, self.filter_to):
            d.dateChanged.connect(lambda _d: self.apply_access_filter())
        return page

    def _events_tab(self) -> TablePage:
        self.events_table = _table("eventsTable", "Security events")
        self.events_table.setModel(self.events_model)
        _widths(self.events_table, (150, 190, 170, 300), (3,))
        page = TablePage(self.events_table, EmptyState("lock", "eventsEmpty"))
        self.events_user = self._user_combo("eventsFilterUser", "Filter events by user")
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
        page.add_filter("&User", self.events_user)
        page.add_filter("T&ype", self.events_type)
        page.add_filter("&From", self.events_from)
        page.add_filter("&To", self.events_to)
        page.filters.addStretch(1)
        page.filters.addWidget(self._clear_button(self.clear_event_filters,
                                                  "clearEventFilters"))
        for combo in (self.events_user, self.events_type):
            combo.currentIndexChanged.connect(lambda _i: self.apply_events_filter())
        for d in (self.events_from, self.events_to):
            d.dateChanged.connect(lambda _d: self.apply_events_filter())
        return page

    def _reveals_tab(self) -> TablePage:
        self.reveals_table = _table("revealsTable", "PHI reveals by day")
        self.reveals_table.setModel(self.reveals_proxy)
        _widths(self.reveals_table, (150, 260, 110, 110, 110), (1,))
        self.reveals_table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.reveals_table.setSortingEnabled(True)
        page = TablePage(self.reveals_table, EmptyState("reveal", "revealsEmpty"))
        swatch = amber().name()
        self.legend = QLabel(
            f"<span style='background-color:{swatch}; border:1px solid #e0b84a;'>"
            "&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp; <b>Highlighted days</b>: "
            f"{audit_stats.UNUSUAL_RULE}. Days are UTC.")
        self.legend.setObjectName("revealsLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setAccessibleName("Legend: highlighted days are " + audit_stats.UNUSUAL_RULE)
        page.filters.addWidget(self.legend, 1)
        return page

    # ---- loading --------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload users, the access log, security events and reveal statistics."""
        session = self._session()
        if session is None:
            return
        self._hide_failure()
        self._load_users(session)
        self.access_model.set_filter(self.access_filter())
        self.events_model.set_filter(self.events_filter())
        self._load_reveals(session)

    def _load_users(self, session: AuthSession) -> None:
        try:
            people = users.list_users(session)
        except ClosePlanError as exc:
            self._show_failure(error_text(exc))
            return
        names = {u.id: u.full_name for u in people}
        self.access_model.names = self.events_model.names = names
        person = icon("user")
        for combo in (self.filter_user, self.events_user):
            current = combo.currentData()
            combo.blockSignals(True)
            while combo.count() > 1:
                combo.removeItem(1)
            for u in people:
                label = u.full_name if u.active else f"{u.full_name} (deactivated)"
                combo.addItem(person, label, u.id)
                combo.setItemData(combo.count() - 1, u.email, Qt.ItemDataRole.ToolTipRole)
            index = combo.findData(current) if current else 0
            combo.setCurrentIndex(max(index, 0))  # a user no longer listed: all users
            combo.blockSignals(False)

    def _load_reveals(self, session: AuthSession) -> None:
        try:
            rows = audit_stats.reveals_per_user_day(session)
        except ClosePlanError as exc:
            rows = []
            self._show_failure(error_text(exc))
        self.reveals_model.set_rows(rows)
        page = self.reveals_page
        unusual = sum(1 for r in rows if r.unusual)
        page.show_rows(bool(rows), "No PHI has been revealed yet",
                       "Each time someone reveals a deal's PHI, it is counted here per "
                       "user and day.")
        days = len({r.day for r in rows})
        page.count.setText(
            f"{len(rows):,} user-day{'s' if len(rows) != 1 else ''} over {days:,} "
            f"day{'s' if days != 1 else ''}; {unusual:,} highlighted" if rows else "")

    def access_filter(self) -> AuditFilter:
        """The access-log filter the bar shows (sent to core as is)."""
        since, until = date_range(self.filter_from, self.filter_to)
        deal = self.filter_deal.text().strip() or None
        return AuditFilter(user_id=self.filter_user.currentData(), deal_id=deal,
                           action=self.filter_action.currentData(),
                           success=self.filter_outcome.currentData(), since=since, until=until)

    def events_filter(self) -> AuditFilter:
        since, until = date_range(self.events_from, self.events_to)
        return AuditFilter(user_id=self.events_user.currentData(),
                           event_type=self.events_type.currentData(), since=since, until=until)

    def apply_access_filter(self) -> None:
        self.deal_timer.stop()
        if self._session() is not None:
            self.access_model.set_filter(self.access_filter())

    def _narrow_access(self, index: QModelIndex) -> None:
        """Double-click a user or a deal to show only that user's or deal's rows."""
        e = self.access_model.rows[index.row()] if index.isValid() else None
        if e is None:
            return
        if index.column() == ACCESS_COLUMNS.index("User"):
            found = self.filter_user.findData(e.user_id)
            if found >= 0:
                self.filter_user.setCurrentIndex(found)
        elif index.column() == ACCESS_COLUMNS.index("Deal"):
            self.filter_deal.setText(e.deal_id)
            self.apply_access_filter()

    def apply_events_filter(self) -> None:
        if self._session() is not None:
            self.events_model.set_filter(self.events_filter())

    def clear_access_filters(self) -> None:
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
        self.apply_access_filter()

    def clear_event_filters(self) -> None:
        widgets = (self.events_user, self.events_type, self.events_from, self.events_to)
        for w in widgets:
            w.blockSignals(True)
        self.events_user.setCurrentIndex(0)
        self.events_type.setCurrentIndex(0)
        self.events_from.reset()
        self.events_to.reset()
        for w in widgets:
            w.blockSignals(False)
        self.apply_events_filter()

    @staticmethod
    def _is_filtered(f: AuditFilter) -> bool:
        return f != AuditFilter()

    def _count(self, model: PagingModel[Any], page: TablePage) -> None:
        shown, total = model.rowCount(), model.total
        noun = "entry" if model is self.access_model else "event"
        plural = "entries" if noun == "entry" else "events"
        if not total:
            page.count.setText("")
        elif shown >= total:
            page.count.setText(f"{total:,} {noun if total == 1 else plural}")
        else:
            page.count.setText(f"Showing {shown:,} of {total:,} {plural}; scroll for more")

    def _access_loaded(self) -> None:
        m, page = self.access_model, self.access_page
        self._count(m, page)
        if self._is_filtered(m.filter):
            page.show_rows(m.rowCount() > 0, "No entries match these filters",
                           "Change or clear the filters to see more of the access log.")
        else:
            page.show_rows(m.rowCount() > 0, "No access has been logged yet",
                           "Reveals of PHI and changes to deals appear here as they happen.")

    def _events_loaded(self) -> None:
        m, page = self.events_model, self.events_page
        self._count(m, page)
        if self._is_filtered(m.filter):
            page.show_rows(m.rowCount() > 0, "No events match these filters",
                           "Change or clear the filters to see more security events.")
        else:
            page.show_rows(m.rowCount() > 0, "No security events yet",
                           "Sign-ins, lockouts, user and key changes appear here.")

    def _show_failure(self, message: str) -> None:
        self.error_text.setText(message)
        self.error_banner.setVisible(True)

    def _hide_failure(self) -> None:
        self.error_banner.setVisible(False)

    def clear_sensitive(self) -> None:
        """The audit holds no PHI, but break-glass reasons are free text: drop all rows."""
        self.deal_timer.stop()
        self.access_model.clear()
        self.events_model.clear()
        self.reveals_model.set_rows([])
        self.reveals_page.count.setText("")

    # ---- verify and export ----------------------------------------------------------

    def _run(self, title: str, work: Callable[[Progress, CancelToken], Any],
             done: Callable[[Any], None]) -> None:
        if self.task is not None or self._session() is None:
            return
        self.verify_button.setEnabled(False)
        self.export_button.setEnabled(False)
        task = Task(self, title, work)
        task.succeeded.connect(done)
        task.failed.connect(lambda message: show_error(self, title, message))
        task.finished.connect(self._task_finished)
        self.task = task
        task.start()

    def _task_finished(self) -> None:
        self.task = None
        self.verify_button.setEnabled(True)
        self.export_button.setEnabled(True)

    @staticmethod
    def _cancellable(progress: Progress, token: CancelToken) -> Progress:
        def report(done: int, total: int | None) -> None:
            token.check()
            progress(done, total)
        return report

    def verify_chain(self) -> None:
        """Verify the audit hash chains (off the UI thread) and say what core found."""
        session = self._session()
        if session is None:
            return

        def work(progress: Progress, token: CancelToken) -> ChainReport:
            return audit.verify(session, self._cancellable(progress, token))

        self._run("Verifying the audit chain", work, self._verified)

    def _verified(self, report: ChainReport) -> None:
        if report.ok:
            self.last_message = f"Audit chain intact: {report.rows_checked:,} rows verified."
            QMessageBox.information(self, "Audit chain intact", self.last_message)
        else:
            self.last_message = (f"The audit chain is broken after {report.rows_checked:,} "
                                 f"good rows.\n\n{report.problem}\n\nKeep this workspace as it "
                                 "is and tell your security officer.")
            QMessageBox.warning(self, "Audit chain broken", self.last_message)
        self.events_model.reload()

    def _current_filter(self) -> AuditFilter:
        return self.events_filter() if self.tabs.currentIndex() == self.EVENTS \
            else self.access_filter()

    def export_audit(self) -> None:
        """Ask where and in which format, then export the audit with the current filters."""
        session = self._session()
        if session is None or self.task is not None:
            return
        default = Path.home() / f"closeplan-audit-{date.today():%Y-%m-%d}.csv"
        csv_filter, fhir_filter = "CSV (*.csv)", "FHIR R4 JSON (*.json)"
        path, chosen = QFileDialog.getSaveFileName(self, "Export audit", str(default),
                                                   f"{csv_filter};;{fhir_filter}", csv_filter)
        if not path:
            return
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".json" or (suffix != ".csv" and chosen == fhir_filter):
            fmt = "fhir"
        else:
            fmt = "csv"
        if suffix not in (".csv", ".json"):
            target = target.with_name(target.name + (".json" if fmt == "fhir" else ".csv"))
        f = self._current_filter()

        def work(progress: Progress, token: CancelToken) -> int:
            return audit.export(session, target, fmt, f, self._cancellable(progress, token))

        def done(count: int) -> None:
            kind = "FHIR R4 JSON" if fmt == "fhir" else "CSV"
            self.last_message = f"Exported {count:,} audit records to {target} ({kind})."
            QMessageBox.information(self, "Audit exported", self.last_message)
            self.events_model.reload()

        self._run("Exporting the audit", work, done)

