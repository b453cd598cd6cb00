"""The deals table model: pages rows in from core as the view scrolls (fetchMore).

Sorting, the status filter and search run in core's SQL; the model only asks for the
next page. Each row is turned into display strings once, when fetched, so `data()` is a
list lookup. The model never holds PHI (core's lists have none).

Only the pages near where the view last read are kept in memory (KEEP_PAGES): the others
keep just the key of the row before them, and are read again through core by that key
(an index range, as cheap as the first page) when the view comes back to them. So memory
stays flat however far a million-row table is scrolled.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, overload

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from ...core.domain import deal_words
from ...core.store import search
from ...core.usecases import deal_list
from ...core.usecases.deal_list import DealQuery, DealSummary
from ..kit.formatting import amount, local_day, local_minute
from ..kit.widgets import AMOUNT_ROLE

PAGE = 200
# Pages of rows kept in memory; the rest are read again by key when shown.
KEEP_PAGES = 40
# A search counts its matches up to this many, then shows "more than" (see reload).
SEARCH_COUNT_AT_MOST = 1000
COLUMNS = ("Title", "Status", "Value", "Owner", "Closes", "PHI", "Updated")
# Owner sorts by the owner's id (core: an index range), which groups each owner's deals.
SORT_KEYS = ("title", "status", "value", "owner", "expected_close_date", None, "updated_at")
STATUS_LABELS = deal_words.STATUS_WORDS
CLOSE_COLUMN, PHI_COLUMN, UPDATED_COLUMN = 4, 5, 6
OVERDUE = "overdue"  # said in the close date column: not colour alone
OVERDUE_COLOR = QColor("#b42318")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_BLANK = ("",) * len(COLUMNS)
# Money and times read largest and newest first on their first click.
_FIRST_DESCENDING = {"value", "updated_at"}
Index = QModelIndex | QPersistentModelIndex


def render(d: DealSummary) -> tuple[str, ...]:
    """A row's display strings, made once when the row is read."""
    # Overdue is said by the cell's icon, colour, tooltip and accessible text (the word
    # in the cell would cost the title its width at 1366x768).
    close = "" if d.expected_close_date is None else deal_words.day_text(d.expected_close_date)
    return (d.title, STATUS_LABELS[d.status], amount(d.value), d.owner_name, close,
            "", local_day(d.updated_at))


class PagedRows(Sequence[DealSummary]):
    """The rows the view has loaded so far, held a page at a time.

    Every page remembers the sort key of the row before it; only the KEEP_PAGES pages
    read most recently keep their rows. A dropped page is read again with `reread(key,
    count)` when asked for.
    """

    def __init__(self, reread: Callable[[Any, int], list[DealSummary]]) -> None:
        self._reread = reread
        self._starts: list[int] = []
        self._keys: list[Any] = []
        self._sizes: list[int] = []
        self._pages: OrderedDict[int, tuple[list[DealSummary], list[tuple[str, ...]]]] = \
            OrderedDict()
        self._count = 0

    def append_page(self, page: list[DealSummary], key_before: Any) -> None:
        number = len(self._starts)
        self._starts.append(self._count)
        self._keys.append(key_before)
        self._sizes.append(len(page))
        self._count += len(page)
        self._keep(number, (page, [render(d) for d in page]))

    def _keep(self, number: int, page: tuple[list[DealSummary], list[tuple[str, ...]]]) -> None:
        self._pages[number] = page
        self._pages.move_to_end(number)
        while len(self._pages) > KEEP_PAGES:
            self._pages.popitem(last=False)

    def page_of(self, row: int) -> tuple[int, list[DealSummary], list[tuple[str, ...]]]:
        """(first row, rows, display strings) of the page holding `row`."""
        number = bisect_right(self._starts, row) - 1
        found = self._pages.get(number)
        if found is None:
            rows = self._reread(self._keys[number], self._sizes[number])
            found = (rows, [render(d) for d in rows])
            if rows:  # an empty answer (locked) is not kept
                self._keep(number, found)
        else:
            self._pages.move_to_end(number)
        return self._starts[number], found[0], found[1]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> DealSummary: ...

    @overload
    def __getitem__(self, i: slice) -> list[DealSummary]: ...

    def __getitem__(self, i: int | slice) -> DealSummary | list[DealSummary]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError(i)
        start, rows, _ = self.page_of(i)
        return rows[i - start]

    def __iter__(self) -> Iterator[DealSummary]:
        for i in range(self._count):
            yield self[i]

    @property
    def pages_held(self) -> int:
        return len(self._pages)


class DealsModel(QAbstractTableModel):
    def __init__(self, session_getter: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self._session = session_getter
        self.query = DealQuery()
        self.rows = PagedRows(self._reread)
        # The page data() last read: (first row, one past its end, display strings, rows).
        self._hot: tuple[int, int, list[tuple[str, ...]], list[DealSummary]] = (0, 0, [], [])
        self.total = 0
        # False while `total` is only a lower bound (a broad search): "1,000+ deals".
        self.total_exact = True
        self.pages_fetched = 0
        self._icons: dict[str, Any] | None = None

    # ---- loading --------------------------------------------------------------------

    def set_query(self, query: DealQuery) -> None:
        self.query = query
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self._reset_rows()
        self.pages_fetched = 0
        session = self._session()
        self.total_exact = True
        if session is None:
            self.total = 0
        elif search.fts_query(self.query.search):
            # A search: its first page, and a count only when that page is full (and
            # then only up to SEARCH_COUNT_AT_MOST): per keystroke, no full count.
            page = deal_list.list_deals(session, self.query, offset=0, limit=PAGE)
            self.total = len(page)
            if len(page) == PAGE:
                self.total = deal_list.count_deals(session, self.query,
                                               at_most=SEARCH_COUNT_AT_MOST)
                self.total_exact = self.total <= SEARCH_COUNT_AT_MOST
            self.endResetModel()
            if page:
                self._append(page)
            return
        else:
            self.total = deal_list.count_deals(session, self.query)
        self.endResetModel()
        if self.total:
            self.fetchMore(QModelIndex())

    def clear(self) -> None:
        self.beginResetModel()
        self._reset_rows()
        self.total = 0
        self.endResetModel()

    def _reset_rows(self) -> None:
        self.rows = PagedRows(self._reread)
        self._hot = (0, 0, [], [])

    def _reread(self, key_before: Any, count: int) -> list[DealSummary]:
        """A dropped page, read again from the row after `key_before`."""
        session = self._session()
        if session is None:  # locked: nothing is read until unlocked
            return []
        if key_before is None:
            return deal_list.list_deals(session, self.query, offset=0, limit=count)
        return deal_list.list_deals(session, self.query, after=key_before, limit=count)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and (len(self.rows) < self.total or not self.total_exact)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        session = self._session()
        if parent.isValid() or session is None:
            return
        page = deal_list.list_deals(session, self.query, offset=len(self.rows), limit=PAGE)
        if not page:
            self.total, self.total_exact = len(self.rows), True
            return
        self._append(page)
        if not self.total_exact and len(self.rows) >= self.total:
            if len(page) < PAGE:
                self.total, self.total_exact = len(self.rows), True
            else:
                self.total = len(self.rows) + 1

    def _append(self, page: list[DealSummary]) -> None:
        first = len(self.rows)
        key_before = None
        if first:
            last = self.rows[first - 1]
            key_before = (deal_list.sort_value(last, self.query.sort), last.id)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self.rows.append_page(page, key_before)
        self.pages_fetched += 1
        self.endInsertRows()

    def _hot_page(self, row: int) -> tuple[int, int, list[tuple[str, ...]], list[DealSummary]]:
        """The page holding a loaded row (read again if it was dropped)."""
        hot = self._hot
        if hot[0] <= row < hot[1]:
            return hot
        start, rows, shown = self.rows.page_of(row)
        if rows:
            self._hot = (start, start + len(shown), shown, rows)
        return start, start + len(shown), shown, rows

    def display_row(self, row: int) -> tuple[str, ...]:
        start, end, shown, _ = self._hot_page(row)
        return shown[row - start] if start <= row < end else _BLANK

    def _deal(self, row: int) -> DealSummary | None:
        start, end, _, rows = self._hot_page(row)
        return rows[row - start] if start <= row < end else None

    def _has_phi(self, row: int) -> bool:
        deal = self._deal(row)
        return deal is not None and deal.has_phi

    # ---- Qt model API ---------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            row = index.row()
            start, end, shown, _ = self._hot
            if start <= row < end:
                return shown[row - start][index.column()]
            return self.display_row(row)[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if index.column() == 2 else _LEFT
        if index.column() == 0 and role == Qt.ItemDataRole.ToolTipRole:
            return self.display_row(index.row())[0]  # the whole title, however narrow
        if index.column() == 2 and role in (AMOUNT_ROLE, Qt.ItemDataRole.ToolTipRole):
            deal = self._deal(index.row())
            if deal is None:
                return None
            return deal.value if role == AMOUNT_ROLE else amount(deal.value)
        if index.column() == CLOSE_COLUMN and role in (
                Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ForegroundRole,
                Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._close_data(index.row(), role)
        if role == Qt.ItemDataRole.DecorationRole and index.column() == PHI_COLUMN:
            return self._lock_icon() if self._has_phi(index.row()) else None
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == UPDATED_COLUMN:
            deal = self._deal(index.row())  # the day on screen, the minute here
            return f"Updated {local_minute(deal.updated_at)}" if deal else None
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == PHI_COLUMN:
            return "This deal holds PHI: select it and use Reveal (logged)." \
                if self._has_phi(index.row()) else None
        return None

    def _close_data(self, row: int, role: int) -> Any:
        """An overdue open deal stands out: a warning icon, red text, and the word in its
        tooltip and accessible text."""
        deal = self._deal(row)
        if deal is None or not deal.is_overdue():
            return None
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon("warning")
        if role == Qt.ItemDataRole.ForegroundRole:
            return OVERDUE_COLOR
        return (f"Overdue: expected to close {deal_words.day_text(deal.expected_close_date)}"
                " and still open.")

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            return (Qt.SortOrder.DescendingOrder if SORT_KEYS[section] in _FIRST_DESCENDING
                    else Qt.SortOrder.AscendingOrder)
        if role == Qt.ItemDataRole.ToolTipRole:
            return None if self.sortable(section) else "This column does not sort."
        return None

    @staticmethod
    def sortable(column: int) -> bool:
        return 0 <= column < len(SORT_KEYS) and SORT_KEYS[column] is not None

    def sort_column(self) -> int:
        """The column of the list's current sort."""
        return (SORT_KEYS.index(self.query.sort) if self.query.sort in SORT_KEYS
                else UPDATED_COLUMN)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = SORT_KEYS[column] if 0 <= column < len(SORT_KEYS) else None
        if key is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if key == self.query.sort and descending == self.query.descending:
            return
        self.set_query(replace(self.query, sort=key, descending=descending))

    def _lock_icon(self) -> Any:
        return self._icon("lock")

    def _icon(self, name: str) -> Any:
        if self._icons is None:
            self._icons = {}
        if name not in self._icons:
            from ..icons import icon

            self._icons[name] = icon(name)
        return self._icons[name]

    def deal_at(self, row: int) -> DealSummary | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None
