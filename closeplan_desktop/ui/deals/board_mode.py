"""The deals pane's switch between its list and its board (issue 15): the segmented
toggle of the toolbar, the View menu's checkable "Board View" (Ctrl+Shift+B), the choice
remembered per user (QSettings, the window's own preferences), and the board's moves run
as the pane runs every write (core through `run_now`, announced on the window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QToolButton, QWidget

from ...core.domain.enums import DealStatus
from ...core.usecases import board
from ...core.usecases.deal_list import DealSummary
from ..icons import icon
from ..kit.ops import Kind
from .board import BoardView

if TYPE_CHECKING:
    from .pane import DealsPane

WRITES = frozenset({Kind.DEALS, Kind.AUDIT})
BOARD_SHORTCUT = "Ctrl+Shift+B"
MOVE_SHORTCUT = "Ctrl+Shift+M"


def _setting_key(user_id: str) -> str:
    return f"deals/layout/{user_id}"


class BoardMode(QObject):
    """The board of a deals pane and the controls that show it."""

    def __init__(self, pane: DealsPane) -> None:
        super().__init__(pane)
        self.pane = pane
        self.view = BoardView(pane.signed_in.session_or_none, self._move, pane)
        # While a move of the board's is announced, the pane does not reload the whole
        # board: the move reads again only the two columns it changed.
        self.moving = False
        self.action = QAction(icon("deals"), "&Board View", pane)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence(BOARD_SHORTCUT))
        self.action.setToolTip(f"Show deals as a board by status ({BOARD_SHORTCUT})")

        self.toggle = QWidget()
        self.toggle.setObjectName("dealsLayoutToggle")
        self.toggle.setAccessibleName("List or board")
        self.list_button = self._segment("List", "listLayoutButton",
                                         "Show deals as a list")
        self.board_button = self._segment("Board", "boardLayoutButton",
                                          f"Show deals as a board by status ({BOARD_SHORTCUT})")
        group = QButtonGroup(self.toggle)
        group.setExclusive(True)
        row = QHBoxLayout(self.toggle)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        for b in (self.list_button, self.board_button):
            group.addButton(b)
            row.addWidget(b)
        self.list_button.setChecked(True)
        self.board_button.toggled.connect(self.action.setChecked)
        self.action.toggled.connect(self._toggled)

    @staticmethod
    def _segment(text: str, name: str, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setObjectName(name)
        b.setCheckable(True)
        b.setToolTip(tip)
        b.setAccessibleName(tip)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return b

    @property
    def on(self) -> bool:
        return self.action.isChecked()

    def restore(self) -> None:
        """Show what this user chose last time (list by default)."""
        key = _setting_key(self.pane.signed_in.core.user_id)
        self.action.setChecked(QSettings().value(key, "list") == "board")

    def _toggled(self, on: bool) -> None:
        self.board_button.setChecked(on)
        self.list_button.setChecked(not on)
        QSettings().setValue(_setting_key(self.pane.signed_in.core.user_id),
                             "board" if on else "list")
        self.pane.layout_changed()

    # ---- moves ----------------------------------------------------------------------

    def _move(self, deal: DealSummary, status: DealStatus) -> DealSummary | None:
        session = self.pane.signed_in.core
        self.moving = True
        try:
            done = self.pane.run_now("Cannot move the deal",
                                     lambda: board.move_deal(session, deal.id, status),
                                     changes=WRITES)
        finally:
            self.moving = False
        return done.value if done.ok else None

    def move_menu(self) -> None:
        """The current card's "Move to" menu, at the card (Ctrl+Shift+M)."""
        if not self.on:
            return
        status = self.view.focused_status
        view = self.view.views[status]
        if self.view.current_deal() is not None:
            rect = view.visualRect(view.currentIndex())
            self.view.show_menu(status, view.viewport().mapToGlobal(rect.center()))
