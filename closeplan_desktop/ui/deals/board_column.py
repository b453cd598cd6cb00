"""One column of the deals board: a list model of one status's deals that pages in from
core as the view scrolls (fetchMore, a page at a time, keyset paging as the list's), and
the delegate that paints its cards.

The model never holds PHI: a card says only that the deal has PHI.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from ...core.domain.enums import DealStatus
from ...core.usecases import board, deal_list
from ...core.usecases.board import ColumnHeader
from ...core.usecases.deal_list import DealQuery, DealSummary
from ..kit.formatting import amount
from .model import STATUS_LABELS, PagedRows

PAGE = 50
DEAL_ROLE = Qt.ItemDataRole.UserRole + 1
# What a dragged card carries: its deal's id and the column it left.
MIME = "application/x-closeplan-deal"
Index = QModelIndex | QPersistentModelIndex
OVERDUE = "#dc2626"


def card_lines(d: DealSummary) -> tuple[str, str, str, str]:
    """A card's text: title, value, owner, expected close date ("" when none)."""
    closes = d.expected_close_date
    return (d.title, amount(d.value), d.owner_name,
            f"Closes {closes.isoformat()}" if closes is not None else "")


def card_text(d: DealSummary, today: date | None = None) -> str:
    """The card as one line of text (tooltip, screen readers): never PHI, only whether
    the deal holds some."""
    title, value, owner, closes = card_lines(d)
    if d.is_overdue(today):
        closes = f"overdue, was due to close {d.expected_close_date}"
    parts = [title, value, f"owner {owner}", closes,
             "holds PHI (select it and use Reveal, logged)" if d.has_phi else ""]
    return ", ".join(p for p in parts if p)


class ColumnModel(QAbstractListModel):
    """One status's deals of the list's query, paged in as the view scrolls."""

    def __init__(self, status: DealStatus, session_getter: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.status = status
        self._session = session_getter
        self.query = DealQuery()
        self.rows = PagedRows(self._reread)
        self.total = 0
        self.exact = True
        self.shown = True
        self.pages_fetched = 0

    # ---- loading --------------------------------------------------------------------

    def load(self, query: DealQuery, header: ColumnHeader, keep: int = 0) -> None:
        """Show `query`'s deals of this status: the first page, and (`keep`) as many more
        pages as it takes to hold that many rows again (a reload after a move keeps what
        the user had scrolled to)."""
        self.beginResetModel()
        self.query = query
        self.rows = PagedRows(self._reread)
        self.total, self.exact, self.shown = header.count, header.exact, header.shown
        self.pages_fetched = 0
        self.endResetModel()
        while self.canFetchMore() and (len(self.rows) == 0 or len(self.rows) < keep):
            before = len(self.rows)
            self.fetchMore()
            if len(self.rows) == before:
                break

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = PagedRows(self._reread)
        self.total, self.exact = 0, True
        self.endResetModel()

    def _reread(self, key_before: Any, count: int) -> list[DealSummary]:
        session = self._session()
        q = board.column_query(self.query, self.status)
        if session is None or q is None:
            return []
        if key_before is None:
            return deal_list.list_deals(session, q, offset=0, limit=count)
        return deal_list.list_deals(session, q, after=key_before, limit=count)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and (len(self.rows) < self.total or not self.exact)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        session = self._session()
        if parent.isValid() or session is None:
            return
        page = board.column_page(session, self.query, self.status, offset=len(self.rows),
                                 limit=PAGE)
        if not page:  # the end (a bounded count, or rows gone since it was taken)
            self.total, self.exact = len(self.rows), True
            return
        first = len(self.rows)
        key_before = None
        if first:
            last = self.rows[first - 1]
            key_before = (deal_list.sort_value(last, self.query.sort), last.id)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self.rows.append_page(page, key_before)
        self.pages_fetched += 1
        self.endInsertRows()
        if not self.exact and len(self.rows) >= self.total:
            self.total = len(self.rows) + (1 if len(page) == PAGE else 0)
            self.exact = len(page) < PAGE

    def deal_at(self, row: int) -> DealSummary | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def row_of(self, deal_id: str) -> int | None:
        """The loaded row of a deal, if loaded."""
        return next((i for i, d in enumerate(self.rows) if d.id == deal_id), None)

    # ---- Qt model API ---------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        deal = self.deal_at(index.row())
        if deal is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return deal.title
        if role == DEAL_ROLE:
            return deal
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return card_text(deal)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        data = QMimeData()
        deal = self.deal_at(indexes[0].row()) if indexes else None
        if deal is not None:
            data.setData(MIME, QByteArray(f"{deal.id} {self.status.value}".encode()))
        return data

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction


def dragged(data: QMimeData) -> tuple[str, DealStatus] | None:
    """The deal id and column a dragged card came from (None: not a card)."""
    if not data.hasFormat(MIME):
        return None
    parts = bytes(data.data(MIME).data()).decode("ascii", "replace").split()
    if len(parts) != 2 or parts[1] not in DealStatus.__members__:
        return None
    return parts[0], DealStatus(parts[1])


class CardDelegate(QStyledItemDelegate):
    """Paints a card: title; value and a PHI marker; owner and expected close date (an
    open deal past it, overdue, in red).
    One painter pass per visible card; no widget per card."""

    PAD = 10
    GAP = 6  # between cards

    def __init__(self, today: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._today = today  # () -> date: the user's local day (core's clock)

    @staticmethod
    def _fonts(option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        base = QFont(option.font)  # type: ignore[attr-defined]
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.9)
        return bold, small

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        bold, small = self._fonts(option)
        lines = QFontMetrics(bold).height() * 2 + QFontMetrics(small).height()
        return QSize(160, lines + 2 * self.PAD + 4 + self.GAP)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        deal = index.data(DEAL_ROLE)
        if not isinstance(deal, DealSummary):
            return
        title, value, owner, closes = card_lines(deal)
        pal: QPalette = option.palette  # type: ignore[attr-defined]
        rect: QRect = option.rect.adjusted(2, 0, -2, -self.GAP)  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        focused = bool(state & QStyle.StateFlag.State_HasFocus)
        bold, small = self._fonts(option)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor(pal.color(QPalette.ColorRole.Highlight)) if selected else \
            QColor(pal.color(QPalette.ColorRole.Mid))
        p.setPen(QPen(border, 2.0 if selected else 1.0))
        p.setBrush(pal.color(QPalette.ColorRole.Base))
        p.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
        text = pal.color(QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlpha(160)
        inner = rect.adjusted(self.PAD, self.PAD - 2, -self.PAD, -self.PAD + 2)
        y = inner.top()
        bh = QFontMetrics(bold).height()
        sh = QFontMetrics(small).height()
        # Title, elided to the card.
        p.setFont(bold)
        p.setPen(text)
        p.drawText(QRect(inner.left(), y, inner.width(), bh), Qt.AlignmentFlag.AlignLeft,
                   QFontMetrics(bold).elidedText(title, Qt.TextElideMode.ElideRight,
                                                 inner.width()))
        y += bh + 2
        # Value, and the PHI marker on the right (never the PHI itself).
        marker_w = 0
        if deal.has_phi:
            p.setFont(small)
            label = "PHI"
            fm = QFontMetrics(small)
            marker_w = fm.horizontalAdvance(label) + 12
            chip = QRect(inner.right() - marker_w + 1, y + 1, marker_w, sh + 2)
            p.setPen(Qt.PenStyle.NoPen)
            amber = QColor("#b45309")
            fill = QColor(amber)
            fill.setAlpha(40)
            p.setBrush(fill)
            p.drawRoundedRect(chip, 4, 4)
            p.setPen(amber)
            p.drawText(chip, Qt.AlignmentFlag.AlignCenter, label)
        p.setFont(bold)
        p.setPen(text)
        p.drawText(QRect(inner.left(), y, inner.width() - marker_w - 6, bh),
                   Qt.AlignmentFlag.AlignLeft,
                   QFontMetrics(bold).elidedText(value, Qt.TextElideMode.ElideRight,
                                                 inner.width() - marker_w - 6))
        y += bh + 2
        # The owner, and on the right the close date (an overdue open deal's in red).
        p.setFont(small)
        fm = QFontMetrics(small)
        date_w = 0
        if closes:
            late = deal.is_overdue(self._today())
            day = closes.removeprefix("Closes ")
            shown = f"Overdue {day}" if late else day
            date_w = fm.horizontalAdvance(shown) + 2
            p.setPen(QColor(OVERDUE) if late else muted)
            p.drawText(QRect(inner.right() - date_w + 1, y, date_w, sh),
                       Qt.AlignmentFlag.AlignRight, shown)
        room = inner.width() - (date_w + 8 if date_w else 0)
        p.setPen(muted)
        p.drawText(QRect(inner.left(), y, room, sh), Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(owner, Qt.TextElideMode.ElideRight, room))
        if focused and not selected:
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 1, Qt.PenStyle.DotLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect.adjusted(3, 3, -3, -3), 5, 5)
        p.restore()


def header_text(header: ColumnHeader) -> tuple[str, str]:
    """A column header's two lines: "Active · 1,234" and its total."""
    name = STATUS_LABELS[header.status]
    if not header.shown:
        return name, "Not in this filter"
    count = f"{header.count:,}" if header.exact else f"{header.count:,}+"
    total = amount(header.total) if header.total is not None else "Total not summed"
    return f"{name} · {count}", total
