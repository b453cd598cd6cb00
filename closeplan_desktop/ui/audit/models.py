"""The audit's table models: the access log and security events paged in from core as
the view scrolls, and PHI reveals per user and day (with core's `unusual`).

This laptop's rows: paging reads run on the UI thread inside Qt's fetchMore (see
kit.ops): one page of at most PAGE rows through an index. The whole organisation's rows
(`set_remote`, an admin on a connected laptop): each page comes from the server through
`core.sync.audit_views` on a worker thread (kit.ops.Op), and fetchMore asks for the next
one when the view scrolls to the end; a device column names the laptop of each row. The
models only render and colour; core decides what is shown and which days are unusual.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QIcon

from ...core.domain.enums import AccessAction, SecurityEventType
from ...core.sync.audit_views import OrgPage
from ...core.usecases import audit
from ...core.usecases.audit import AccessEntry, AuditFilter, EventEntry
from ...core.usecases.audit_stats import RevealStat
from ...core.usecases.frame import AuthSession
from ..icons import icon
from ..kit import dialogs, palette
from ..kit.formatting import local_second_zone, utc_second
from ..kit.ops import Op
from .words import DETAIL_WORDS, action_text, event_text

PAGE = 200
ACCESS_COLUMNS = ("Time", "User", "Action", "Deal", "Outcome", "Reason", "Device / Seq")
EVENT_COLUMNS = ("Time", "Type", "User", "Detail")
REVEAL_COLUMNS = ("Day (UTC)", "User", "Reveals", "Refused", "Break-glass")
# Detail keys that hold a deal id: shown as the deal's title (an admin sees every title).
_DEAL_KEYS = ("deal",)
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

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
Index = QModelIndex | QPersistentModelIndex
SessionGetter = Callable[[], AuthSession | None]
Row = TypeVar("Row")
# A page of the organisation's audit: (session, filter, cursor) -> the page (a worker).
Remote = Callable[[AuthSession, AuditFilter, str | None], OrgPage[Any]]


class PagingModel(QAbstractTableModel, Generic[Row]):
    """Pages rows in from a core list use case as the view scrolls (fetchMore).

    Each reload pins the upper time bound to "now", so that rows logged while the admin
    scrolls do not shift the pages; Refresh shows them.
    """

    failed = Signal(str)
    remote_failed = Signal(str)  # the organisation's audit could not be read
    loaded = Signal()
    columns: tuple[str, ...] = ()
    org_columns: tuple[str, ...] = ()  # the columns of the organisation's rows

    def __init__(self, session_getter: SessionGetter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session_getter
        self.filter = AuditFilter()
        self._pinned = AuditFilter()
        self.rows: list[Row] = []
        self._display: list[tuple[str, ...]] = []
        self.total = 0
        self.names: dict[str, str] = {}
        self.columns = type(self).columns
        # The organisation's audit (None: this laptop's), its device names, the next
        # page's cursor, the page being read, and which reload it belongs to.
        self.remote: Remote | None = None
        self.devices: dict[str, str] = {}
        self._cursor: str | None = None
        self._more = False
        self._loading: Op | None = None
        self._generation = 0

    # subclasses: one page from core, and a row's display strings
    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[Row], int]:
        raise NotImplementedError

    def _render(self, row: Row) -> tuple[str, ...]:
        raise NotImplementedError

    def describe(self, row: int) -> str:
        """Everything about row `row`, for the detail view under the table."""
        raise NotImplementedError

    def set_filter(self, f: AuditFilter) -> None:
        self.filter = f
        self.reload()

    def set_remote(self, remote: Remote | None, devices: dict[str, str] | None = None
                   ) -> None:
        """Show the organisation's rows read by `remote` (with `devices` naming each
        row's laptop), or this laptop's (None); the caller reloads."""
        self.beginResetModel()
        self.remote, self.devices = remote, dict(devices or {})
        self.columns = (self.org_columns or type(self).columns) if remote else type(self).columns
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()

    @property
    def busy(self) -> bool:
        """A page of the organisation's audit is being read."""
        return self._loading is not None

    def reload(self) -> None:
        self._generation += 1
        self._loading = None  # a page still on its way belongs to the last reload
        self.beginResetModel()
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()
        now = datetime.now(UTC)
        until = self.filter.until if self.filter.until and self.filter.until < now else now
        self._pinned = replace(self.filter, until=until)
        if self.remote is not None:
            self._cursor, self._more = None, True
            self._fetch_remote()  # `loaded` when the first page is here
            return
        self._fetch()
        self.loaded.emit()

    def clear(self) -> None:
        self._generation += 1
        self._loading = None
        self._more = False
        self.beginResetModel()
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()
        self.loaded.emit()

    def _fetch_remote(self) -> None:
        """Read the next page of the organisation's audit off the UI thread."""
        session, remote = self._session(), self.remote
        if session is None or remote is None or self._loading is not None or not self._more:
            return
        generation, f, cursor = self._generation, self._pinned, self._cursor
        op = Op(None, "Reading the organisation's audit",
                lambda _p, _c: remote(session, f, cursor), progress=False)
        self._loading = op
        op.on_success(lambda page: self._arrived(op, generation, page)) \
            .on_failure(lambda text: self._remote_failed(op, generation, text)) \
            .run_in_background()

    def _arrived(self, op: Op, generation: int, page: OrgPage[Any]) -> None:
        if generation != self._generation:
            return  # a reload or a clear came meanwhile: this page is not wanted
        if self._loading is op:
            self._loading = None
        first_page = self._cursor is None
        self._cursor = page.next_cursor
        self._more = page.next_cursor is not None
        if page.entries:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.entries) - 1)
            self.rows.extend(page.entries)
            self._display.extend(self._render(r) for r in page.entries)
            self.endInsertRows()
        self.total = len(self.rows) + (1 if self._more else 0)
        if first_page:
            self.loaded.emit()

    def _remote_failed(self, op: Op, generation: int, text: str) -> None:
        if generation != self._generation:
            return
        if self._loading is op:
            self._loading = None
        self._more = False
        self.total = len(self.rows)
        self.remote_failed.emit(text)

    def _fetch(self) -> None:
        session = self._session()
        if session is None:
            return
        try:
            page, total = self._page(session, self._pinned, len(self.rows))
        except Exception as exc:  # shown in the pane's banner, as kit.dialogs words it
            self.total = len(self.rows)
            self.failed.emit(dialogs.error_text(exc))
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
        if parent.isValid():
            return False
        if self.remote is not None:
            return self._more and self._loading is None
        return len(self.rows) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            if self.remote is not None:
                self._fetch_remote()
            else:
                self._fetch()

    def device(self, device_id: str) -> str:
        """The laptop a row came from, by name (the organisation's rows)."""
        return self.devices.get(device_id) or f"Device {device_id[:8]}"

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._display)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None

    def _origin(self, device_id: str) -> str:
        """Where a row was logged, in the detail view."""
        if not device_id:
            return "logged by the server"
        if self.remote and device_id in self.devices:
            return f"{self.devices[device_id]} (device {device_id})"
        return f"device {device_id}"

    def _name(self, user_id: str | None, email: str | None) -> str:
        if user_id and user_id in self.names:
            return self.names[user_id]
        return email or ""


class AccessModel(PagingModel[AccessEntry]):
    columns = ACCESS_COLUMNS
    org_columns = (*ACCESS_COLUMNS[:-1], "Device")
    OUTCOME = 4
    REASON = 5

    def __init__(self, session_getter: SessionGetter, parent: QObject | None = None) -> None:
        super().__init__(session_getter, parent)
        self._glass_icon: QIcon | None = None

    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[AccessEntry], int]:
        return audit.list_access(session, f, offset=offset, limit=PAGE)

    def _render(self, e: AccessEntry) -> tuple[str, ...]:
        where = self.device(e.device_id) if self.remote else e.device_id[:8]
        return (local_second_zone(e.timestamp), self._name(e.user_id, e.user_email),
                action_text(e.action, e.changed), e.deal_title,
                "Allowed" if e.success else "Refused", e.reason or "",
                f"{where} · #{e.seq}")

    def describe(self, row: int) -> str:
        """Everything about one row, for the detail view under the table (the whole
        break-glass reason, however long)."""
        e = self.rows[row]
        lines = [f"{self._display[row][2]} — {'allowed' if e.success else 'refused'}",
                 f"When: {when(e.timestamp)}",
                 f"Who: {self._name(e.user_id, e.user_email)} <{e.user_email}>",
                 f"Deal: {e.deal_title} (id {e.deal_id})"]
        if e.reason:
            lines.append(f"Break-glass reason: {e.reason}")
        lines.append(f"Logged as {e.action} {e.access_type} on {e.resource_type}; "
                     f"{self._origin(e.device_id)}, sequence {e.seq}")
        return "\n".join(lines)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        e = self.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[row][col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.OUTCOME and not e.success:
            return palette.error()
        if role == Qt.ItemDataRole.BackgroundRole and e.reason:
            return palette.flag()
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
            return utc_second(e.timestamp)
        if col == 1:
            return f"{e.user_email}\nDouble-click to show only this user"
        if col == 2:
            return (ACTION_HINTS.get(AccessAction(e.action), e.action)
                    + f" ({e.action}, {e.access_type})")
        if col == 3:
            return f"{e.deal_title}\nDeal id: {e.deal_id}\nDouble-click to show only this deal"
        if col == 4:
            return "Allowed" if e.success else "Refused: the attempt was denied and logged"
        if col == 5 and e.reason:
            return f"<p>Break-glass reason: {html.escape(e.reason)}</p>"  # rich: it wraps
        if col == 6:
            return f"Device {e.device_id}, sequence {e.seq} in its hash chain"
        return None


class EventsModel(PagingModel[EventEntry]):
    columns = EVENT_COLUMNS
    org_columns = (*EVENT_COLUMNS, "Device")
    TYPE = 1

    def __init__(self, session_getter: SessionGetter, parent: QObject | None = None) -> None:
        super().__init__(session_getter, parent)
        self.deal_titles: dict[str, str] = {}

    def _page(self, session: AuthSession, f: AuditFilter,
              offset: int) -> tuple[list[EventEntry], int]:
        page, total = audit.list_events(session, f, offset=offset, limit=PAGE)
        wanted = {v for e in page for k, v in _parsed(e.detail).items()
                  if k in _DEAL_KEYS and isinstance(v, str) and v not in self.deal_titles}
        if wanted:
            self.deal_titles.update(audit.deal_titles(session, wanted))
        return page, total

    def _render(self, e: EventEntry) -> tuple[str, ...]:
        shown = (local_second_zone(e.timestamp), event_text(e.type),
                 self._name(e.user_id, e.user_email), self._detail(e.detail))
        return (*shown, self.device(e.device_id)) if self.remote else shown

    def _detail(self, text: str) -> str:
        detail = _parsed(text)
        if not detail:
            return "" if text in ("", "{}") else text
        parts = []
        for key, value in detail.items():
            if key in _USER_KEYS and isinstance(value, str) and value in self.names:
                value = self.names[value]
            elif key in _DEAL_KEYS and isinstance(value, str):
                value = f"“{self.deal_titles[value]}”" if value in self.deal_titles else value
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            parts.append(f"{DETAIL_WORDS.get(key, key.replace('_', ' '))}: {value}")
        return ", ".join(parts)

    def describe(self, row: int) -> str:
        """Everything about one event, for the detail view under the table."""
        e = self.rows[row]
        lines = [self._display[row][1],
                 f"When: {when(e.timestamp)}"]
        if e.user_id:
            lines.append(f"Who: {self._name(e.user_id, e.user_email)} <{e.user_email}>")
        if self._display[row][3]:
            lines.append(f"Detail: {self._display[row][3]}")
        lines.append(f"Logged as {e.type}; {self._origin(e.device_id)}, sequence {e.seq}")
        return "\n".join(lines)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        e = self.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[row][col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.TYPE and e.type in ALERT_EVENTS:
            return palette.error()
        if role == Qt.ItemDataRole.BackgroundRole and e.type in FLAG_EVENTS:
            return palette.flag()
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return utc_second(e.timestamp)
            if col == 1:
                return e.type
            if col == 2:
                return e.user_email
            if col == 3:
                return f"{self._display[row][col]}\nDevice {e.device_id}, sequence {e.seq}"
        return None


def when(ts: datetime) -> str:
    """A time with its zone, and in UTC too when the zone is another."""
    local, utc = local_second_zone(ts), utc_second(ts)
    return local if local == utc else f"{local} ({utc})"


def _parsed(text: str) -> dict[str, Any]:
    """An event's detail object ({} when it is not one)."""
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


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
            return palette.flag()
        if role == Qt.ItemDataRole.FontRole and r.unusual:
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and r.refused:
            return palette.error()
        if role == Qt.ItemDataRole.ToolTipRole:
            usual = f"Usual: {r.usual_reveals:g} reveals a day ({r.user_email})"
            return f"Unusual: {r.why}\n{usual}" if r.unusual else usual
        return None

    def stat_at(self, row: int) -> RevealStat | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None
