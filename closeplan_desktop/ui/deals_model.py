"""The deals table model: pages rows in from core as the view scrolls (fetchMore).

Sorting, the status filter and search run in core's SQL; the model only asks for the
next page. Each row is turned into display strings once, when fetched, so `data()` is a
list lookup. The model never holds PHI (core's lists have none).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from ..core import deals
from ..core.deals import DealQuery, DealSummary
from ..core.models import DealStatus

PAGE = 200
COLUMNS = ("Title", "Status", "Value", "Owner", "PHI", "Updated")
SORT_KEYS = ("title", "status", "value", None, None, "updated_at")
STATUS_LABELS = {DealStatus.DRAFT: "Draft", DealStatus.ACTIVE: "Active",
                 DealStatus.CLOSED_WON: "Closed – won", DealStatus.CLOSED_LOST: "Closed – lost"}
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
Index = QModelIndex | QPersistentModelIndex


def money(value: object) -> str:
    return f"${value:,.2f}"


class DealsModel(QAbstractTableModel):
    def __init__(self, session_getter: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self._session = session_getter
        self.query = DealQuery()
        self.rows: list[DealSummary] = []
        self._display: list[tuple[str, ...]] = []
        self.total = 0
        self.pages_fetched = 0
        self._lock: Any = None

    # ---- loading --------------------------------------------------------------------

    def set_query(self, query: DealQuery) -> None:
        self.query = query
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self.rows, self._display, self.pages_fetched = [], [], 0
        session = self._session()
        self.total = deals.count_deals(session, self.query) if session else 0
        self.endResetModel()
        if self.total:
            self.fetchMore(QModelIndex())

    def clear(self) -> None:
        self.beginResetModel()
        self.rows, self._display, self.total = [], [], 0
        self.endResetModel()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        session = self._session()
        if parent.isValid() or session is None:
            return
        page = deals.list_deals(session, self.query, offset=len(self.rows), limit=PAGE)
        if not page:
            self.total = len(self.rows)
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self.rows.extend(page)
        self._display.extend(self._render(d) for d in page)
        self.pages_fetched += 1
        self.endInsertRows()

    @staticmethod
    def _render(d: DealSummary) -> tuple[str, ...]:
        return (d.title, STATUS_LABELS[d.status], money(d.value), d.created_by_name,
                "" , d.updated_at.astimezone().strftime(
                    "%Y-%m-%d %H:%M"))

    # ---- Qt model API ---------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._display)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if index.column() == 2 else _LEFT
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 4:
            return self._lock_icon() if self.rows[index.row()].has_phi else None
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 4:
            return "This deal holds PHI: select it and use Reveal (logged)." \
                if self.rows[index.row()].has_phi else None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = SORT_KEYS[column] if 0 <= column < len(SORT_KEYS) else None
        if key is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if key == self.query.sort and descending == self.query.descending:
            return
        self.set_query(DealQuery(status=self.query.status, search=self.query.search, sort=key,
                                 descending=descending, deleted=self.query.deleted))

    def _lock_icon(self) -> Any:
        if self._lock is None:
            from .icons import icon

            self._lock = icon("lock")
        return self._lock

    def deal_at(self, row: int) -> DealSummary | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None
