"""A deal's history in a dialog (issue 15), opened from the audit's row of a deal change:
every change newest first, the one the audit row recorded selected when this device
still holds it as its own (after sync the server's row stands for it, at the same
time)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.usecases import timeline
from ...core.usecases.frame import AuthSession
from ..kit import ops
from ..kit.widgets import muted
from .timeline import history_text


class DealHistoryDialog(QDialog):
    """The history of the deal an audit row `access_log_id` changed."""

    def __init__(self, session: AuthSession, access_log_id: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dealHistoryDialog")
        self.setWindowTitle("Deal history")
        layout = QVBoxLayout(self)
        layout.addWidget(muted("Every change to this deal, newest first. PHI shows only as "
                               "changed; reveal it from the deal itself (logged)."))
        self.list = QListWidget()
        self.list.setObjectName("dealHistoryList")
        self.list.setAccessibleName("Deal history")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        layout.addWidget(self.list, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(560, 420)

        def load() -> tuple[str | None, list[timeline.HistoryEntry]]:
            _deal, entry = timeline.history_for_audit_row(session, access_log_id)
            return entry, timeline.deal_history(session, _deal)

        got = ops.read(load, parent=self, title="Cannot show the deal's history")
        if got.value is not None:
            entry, entries = got.value
            for h in entries:
                item = QListWidgetItem(history_text(h))
                self.list.addItem(item)
                if h.id == entry:
                    self.list.setCurrentItem(item)

    def entries_text(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]
