"""The sync part of the status bar: online or offline, the last sync (relative; the
exact time with its zone in the tooltip), pending changes, and a button to the conflicts
when there are any. When the server ended this laptop's session, "Signed out of the
server — Sign in" takes the place of online/offline, and opens the sign-in dialog."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from ...core.domain.clock import utcnow
from ..icons import icon
from ..kit import formatting, palette
from .service import SyncService

# How often "3 min ago" is brought up to date.
TICK_MS = 30_000


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


class SyncStatus(QWidget):
    """Reads `service.state`; `open_conflicts` opens the conflicts view."""

    def __init__(self, service: SyncService, open_conflicts: Callable[[], object],
                 parent: QWidget | None = None,
                 sign_in: Callable[[], object] | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.setObjectName("syncStatus")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        self.dot = QLabel("●")
        self.dot.setObjectName("syncDot")
        self.online = QLabel()
        self.online.setObjectName("syncOnline")
        self.last = QLabel()
        self.last.setObjectName("syncLast")
        self.pending = QLabel()
        self.pending.setObjectName("syncPending")
        self.conflicts = QToolButton()
        self.conflicts.setObjectName("syncConflicts")
        self.conflicts.setIcon(icon("warning", palette.warn_name()))
        self.conflicts.setAutoRaise(True)
        self.conflicts.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.conflicts.setToolTip("Open the conflicts and rejections of sync")
        self.conflicts.clicked.connect(lambda _c=False: open_conflicts())
        self.sync = QToolButton()
        self.sync.setObjectName("syncNow")
        self.sync.setIcon(icon("sync"))
        self.sync.setAutoRaise(True)
        self.sync.setToolTip("Sync now (Ctrl+Shift+S)")
        self.sync.setAccessibleName("Sync now")
        self.sync.clicked.connect(lambda _c=False: service.sync_now())
        self.sign_in = QToolButton()
        self.sign_in.setObjectName("syncSignIn")
        self.sign_in.setText("Signed out of the server — Sign in")
        self.sign_in.setIcon(icon("signout", palette.warn_name()))
        self.sign_in.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sign_in.setAutoRaise(True)
        self.sign_in.setCursor(Qt.CursorShape.PointingHandCursor)
        self.sign_in.setAccessibleName("Sign in to the server again")
        self.sign_in.setStyleSheet(f"QToolButton#syncSignIn {{ color: {palette.warn_name()}; "
                                   "font-weight: bold; }")
        if sign_in is not None:
            self.sign_in.clicked.connect(lambda _c=False: sign_in())
        self.sign_in.hide()
        for w in (self.dot, self.online, self.sign_in, self.last, self.pending, self.conflicts,
                  self.sync):
            row.addWidget(w)
        service.updated.connect(self.show_state)
        self.tick = QTimer(self)
        self.tick.setInterval(TICK_MS)
        self.tick.timeout.connect(self.show_state)
        self.tick.start()
        self.show_state()

    def show_state(self) -> None:
        state = self.service.state
        offer = state.signed_out and not state.running
        self.sign_in.setVisible(offer)
        self.online.setVisible(not offer)
        if state.signed_out:
            self.sign_in.setToolTip(f"{state.problem}\nSign in to "
                                    f"{self.service.transport.url} again to sync; your work "
                                    "here goes on meanwhile.")
        if state.running:
            text, color = "Syncing…", palette.ok_name()
        elif state.signed_out:
            text, color = "Signed out", palette.warn_name()
        elif state.online:
            text, color = "Online", palette.ok_name()
        else:
            text, color = "Offline", palette.muted_name()
        self.dot.setStyleSheet(f"color: {color};")
        self.online.setText(text)
        self.online.setToolTip(state.problem or f"Connected to {self.service.transport.url}")
        self.dot.setToolTip(self.online.toolTip())
        self.last.setText("Last sync " + formatting.relative(state.last_sync_at, utcnow()))
        self.last.setToolTip(formatting.local_second_zone(state.last_sync_at)
                             if state.last_sync_at else "Not synced yet")
        self.pending.setText(plural(state.pending, "change", "changes") + " to send"
                             if state.pending else "All changes sent")
        issues = state.conflicts + state.rejections
        words = []
        if state.conflicts:
            words.append(plural(state.conflicts, "conflict", "conflicts"))
        if state.rejections:
            words.append(plural(state.rejections, "rejection", "rejections"))
        self.conflicts.setText(", ".join(words))
        self.conflicts.setVisible(bool(issues))
