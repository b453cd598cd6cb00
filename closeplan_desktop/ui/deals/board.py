"""The deals board (issue 15): one column per status in pipeline order, each headed by
its count and total and holding the list's deals of that status as cards, paged in as
the column scrolls.

A card moves to another column by drag and drop, by the context menu's "Move to", or
from the keyboard (Ctrl+Shift+Left/Right: the previous or next column). The move is
core's (`board.move_deal`, an update of the deal's status); a refusal is core's message,
and the card stays where it was. After a move only the two columns concerned and the
headers are read again. Left and Right without a modifier go to the neighbouring column;
Enter or a double click opens the card's deal.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.clock import local_today
from ...core.domain.enums import DealStatus
from ...core.usecases import board
from ...core.usecases.board import ColumnHeader
from ...core.usecases.deal_list import DealQuery, DealSummary
from .board_column import DEAL_ROLE, CardDelegate, ColumnModel, dragged, header_text
from .model import STATUS_LABELS
from .pipeline import COLORS

# What a move asks of the pane: run it (core, announced) and answer whether it was done.
Mover = Callable[[DealSummary, DealStatus], DealSummary | None]


class ColumnView(QListView):
    """A column's cards: drags out, takes drops from the other columns, keys to move."""

    dropped = Signal(str, object)  # deal id, the status of this column
    opened = Signal(object)  # DealSummary
    step = Signal(int)  # -1 / +1: focus the neighbouring column
    move_step = Signal(int)  # -1 / +1: move the current card to the neighbouring column
    menu_wanted = Signal(QPoint)  # a context menu for the current card, at this point

    def __init__(self, model: ColumnModel, delegate: CardDelegate,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column = model
        self.setModel(model)
        self.setItemDelegate(delegate)
        self.setObjectName(f"boardColumn_{model.status.value}")
        self.setAccessibleName(f"{STATUS_LABELS[model.status]} deals")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(True)  # every card is as tall: no measuring per row
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSpacing(0)
        self.viewport().setAutoFillBackground(False)
        self.doubleClicked.connect(self._open)
        self._hover = False

    def current_deal(self) -> DealSummary | None:
        index = self.currentIndex()
        deal = index.data(DEAL_ROLE) if index.isValid() else None
        return deal if isinstance(deal, DealSummary) else None

    def _open(self, index: QModelIndex) -> None:
        deal = index.data(DEAL_ROLE)
        if isinstance(deal, DealSummary):
            self.opened.emit(deal)

    # ---- drops ----------------------------------------------------------------------

    def _accepts(self, event: QDropEvent | QDragMoveEvent | QDragEnterEvent) -> bool:
        found = dragged(event.mimeData())
        return found is not None and found[1] != self.column.status and self.column.shown

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            self._hover = True
            self.viewport().update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: object) -> None:
        self._hover = False
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:
        self._hover = False
        self.viewport().update()
        found = dragged(event.mimeData())
        if found is None or not self._accepts(event):
            event.ignore()
            return
        # The source keeps its card: the board reads both columns again after a move,
        # and a refused move leaves everything where it was.
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.dropped.emit(found[0], self.column.status)

    # ---- keys and menu --------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        sideways = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
        if key in sideways and mods == (Qt.KeyboardModifier.ControlModifier
                                        | Qt.KeyboardModifier.ShiftModifier):
            self.move_step.emit(sideways[Qt.Key(key)])
            return
        if key in sideways and mods == Qt.KeyboardModifier.NoModifier:
            self.step.emit(sideways[Qt.Key(key)])
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open(self.currentIndex())
            return
        if key == Qt.Key.Key_Menu or (key == Qt.Key.Key_F10 and
                                      mods == Qt.KeyboardModifier.ShiftModifier):
            rect = self.visualRect(self.currentIndex())
            self.menu_wanted.emit(self.viewport().mapToGlobal(rect.center()))
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        index = self.indexAt(event.pos())
        if index.isValid():
            self.setCurrentIndex(index)
            self.menu_wanted.emit(event.globalPos())

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._hover or not self.column.rowCount():
            p = QPainter(self.viewport())
            color = QColor(self.palette().color(QPalette.ColorRole.Text))
            color.setAlpha(130)
            if self._hover:
                p.setPen(self.palette().color(QPalette.ColorRole.Highlight))
                p.drawRoundedRect(self.viewport().rect().adjusted(2, 2, -3, -3), 6, 6)
            if not self.column.rowCount():
                p.setPen(color)
                p.drawText(self.viewport().rect().adjusted(8, 24, -8, 0),
                           Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                           | Qt.TextFlag.TextWordWrap,
                           "No deals here" if self.column.shown else
                           "Not in this filter")
            p.end()


class ColumnHeaderLabel(QWidget):
    """A column's status (with its color), count and total."""

    def __init__(self, status: DealStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setObjectName(f"boardHeader_{status.value}")
        self.name = QLabel()
        self.name.setObjectName("boardHeaderName")
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        self.total = QLabel()
        self.total.setObjectName("boardHeaderTotal")
        bar = QFrame()
        bar.setFixedHeight(4)
        bar.setStyleSheet(f"background: {COLORS[status]}; border-radius: 2px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(bar)
        layout.addWidget(self.name)
        layout.addWidget(self.total)

    def set_header(self, header: ColumnHeader) -> None:
        first, second = header_text(header)
        self.name.setText(first)
        self.total.setText(second)
        self.setAccessibleName(f"{first}, {second}")
        self.setToolTip(f"{first}\n{second}")


class BoardView(QWidget):
    """The four columns. `load(query)` reads the headers and each column's first page;
    `mover` runs a move (the pane's: core through run_now, announced)."""

    current_changed = Signal(object)  # DealSummary | None
    opened = Signal(object)  # DealSummary

    def __init__(self, session_getter: Callable[[], object], mover: Mover,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dealsBoard")
        self.setAccessibleName("Deals board")
        self._session = session_getter
        self._mover = mover
        self.query = DealQuery()
        self.headers: dict[DealStatus, ColumnHeader] = {}
        self.delegate = CardDelegate(local_today, self)
        self.models: dict[DealStatus, ColumnModel] = {}
        self.views: dict[DealStatus, ColumnView] = {}
        self.labels: dict[DealStatus, ColumnHeaderLabel] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for st in board.STATUSES:
            model = ColumnModel(st, session_getter, self)
            view = ColumnView(model, self.delegate)
            label = ColumnHeaderLabel(st)
            view.dropped.connect(self._dropped)
            view.opened.connect(self.opened.emit)
            view.step.connect(lambda d, s=st: self.focus_column(s, d))
            view.move_step.connect(lambda d, s=st: self.move_current_by(s, d))
            view.menu_wanted.connect(lambda pos, s=st: self.show_menu(s, pos))
            view.selectionModel().currentChanged.connect(
                lambda cur, _prev, s=st: self._current(s, cur))
            box = QFrame()
            box.setObjectName("boardColumnBox")
            box.setFrameShape(QFrame.Shape.StyledPanel)
            col = QVBoxLayout(box)
            col.setContentsMargins(6, 6, 6, 2)
            col.setSpacing(4)
            col.addWidget(label)
            col.addWidget(view, 1)
            row.addWidget(box, 1)
            self.models[st], self.views[st], self.labels[st] = model, view, label
        self.focused_status: DealStatus = board.STATUSES[0]

    # ---- loading --------------------------------------------------------------------

    def load(self, query: DealQuery) -> None:
        """The headers and each column's first page for the list's `query` (core)."""
        session = self._session()
        self.query = query
        if session is None:
            for m in self.models.values():
                m.clear()
            return
        for header in board.headers(session, query):  # type: ignore[arg-type]
            self._set_header(header)
            self.models[header.status].load(query, header)
        self.current_changed.emit(self.current_deal())

    def _set_header(self, header: ColumnHeader) -> None:
        self.headers[header.status] = header
        self.labels[header.status].set_header(header)

    def _reload_columns(self, statuses: tuple[DealStatus, ...]) -> None:
        """The headers, and only the named columns again (each keeps as many rows as
        it had loaded, and its scroll position)."""
        session = self._session()
        if session is None:
            return
        for header in board.headers(session, self.query):  # type: ignore[arg-type]
            self._set_header(header)
            if header.status in statuses:
                view = self.views[header.status]
                at = view.verticalScrollBar().value()
                model = self.models[header.status]
                model.load(self.query, header, keep=len(model.rows))
                view.verticalScrollBar().setValue(at)

    def total(self) -> tuple[int, bool]:
        """How many deals the board holds (and whether exactly)."""
        shown = [h for h in self.headers.values() if h.shown]
        return sum(h.count for h in shown), all(h.exact for h in shown)

    # ---- current card ---------------------------------------------------------------

    def _current(self, status: DealStatus, index: QModelIndex) -> None:
        if index.isValid():
            self.focused_status = status
            for st, view in self.views.items():
                if st != status:
                    view.selectionModel().clear()
        self.current_changed.emit(self.current_deal())

    def current_deal(self) -> DealSummary | None:
        view = self.views[self.focused_status]
        return view.current_deal() if view.selectionModel().hasSelection() else None

    def select(self, deal_id: str, status: DealStatus) -> bool:
        """Make a loaded card current (and focused if the board has focus)."""
        view = self.views[status]
        row = self.models[status].row_of(deal_id)
        if row is None:
            return False
        index = self.models[status].index(row)
        view.setCurrentIndex(index)
        view.scrollTo(index)
        return True

    def focus_column(self, status: DealStatus, step: int) -> None:
        """Focus the column `step` columns from `status`'s, on the card nearest the
        current row."""
        order = board.STATUSES
        i = order.index(status) + step
        if not 0 <= i < len(order):
            return
        target = self.views[order[i]]
        row = max(0, self.views[status].currentIndex().row())
        if self.models[order[i]].rowCount():
            index = self.models[order[i]].index(min(row, self.models[order[i]].rowCount() - 1))
            target.setCurrentIndex(index)
        target.setFocus()

    # ---- moving ---------------------------------------------------------------------

    def move_actions(self, parent: QWidget) -> list[QAction]:
        """ "Move to" actions for the current card: one per other column."""
        deal = self.current_deal()
        out = []
        for st in board.STATUSES:
            action = QAction(STATUS_LABELS[st], parent)
            action.setObjectName(f"moveTo_{st.value}")
            action.setEnabled(deal is not None and deal.status != st
                              and deal.deleted_at is None)
            action.triggered.connect(lambda _c=False, s=st: self.move_current(s))
            out.append(action)
        return out

    def show_menu(self, status: DealStatus, pos: QPoint) -> None:
        if self.current_deal() is None:
            return
        menu = QMenu(self)
        opened = menu.addAction("Open")
        opened.triggered.connect(lambda: self._open_current())
        move = menu.addMenu("Move to")
        move.setObjectName("moveToMenu")
        for action in self.move_actions(move):
            move.addAction(action)
        menu.exec(pos)

    def _open_current(self) -> None:
        deal = self.current_deal()
        if deal is not None:
            self.opened.emit(deal)

    def move_current(self, status: DealStatus) -> bool:
        """Move the current card to `status`'s column (keyboard and menu)."""
        deal = self.current_deal()
        return deal is not None and self.move(deal, status)

    def move_current_by(self, status: DealStatus, step: int) -> None:
        deal = self.current_deal()
        order = board.STATUSES
        i = order.index(status) + step
        if deal is not None and 0 <= i < len(order):
            self.move(deal, order[i])

    def _dropped(self, deal_id: str, status: DealStatus) -> None:
        for model in self.models.values():
            row = model.row_of(deal_id)
            if row is not None:
                deal = model.deal_at(row)
                if deal is not None:
                    self.move(deal, status)
                return

    def move(self, deal: DealSummary, status: DealStatus) -> bool:
        """Move `deal` to `status`'s column through the pane's mover (core). Done: the
        two columns and the headers are read again and the card is current in its new
        column. Refused: the mover has shown core's message; nothing moves."""
        if deal.status == status:
            return False
        had_focus = self.views[deal.status].hasFocus()
        moved = self._mover(deal, status)
        if moved is None:
            return False
        self._reload_columns((deal.status, moved.status))
        self.focused_status = moved.status
        self.select(moved.id, moved.status)
        if had_focus:
            self.views[moved.status].setFocus()
        self.current_changed.emit(self.current_deal())
        return True
