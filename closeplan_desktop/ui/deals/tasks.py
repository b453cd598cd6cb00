"""The signed-in user's "Tasks due" (issue 15): open tasks and next steps due today or
overdue, oldest first; mark one done, or open its deal in the list."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.usecases import activities, timeline
from ...core.usecases.timeline import DueTask
from ..kit import ops
from ..kit.ops import Kind
from ..kit.widgets import button, muted
from ..signed_in import SignedIn
from .timeline import KIND_LABELS

TASK_ROLE = Qt.ItemDataRole.UserRole


def task_text(t: DueTask) -> str:
    """One due task as the list shows it."""
    a = t.activity
    due = a.due_day.isoformat() if a.due_day else ""
    state = "OVERDUE" if a.overdue else "due today"
    return f"{KIND_LABELS[a.kind]} · {state} ({due}) · {t.deal_title}\n{a.body}"


class TasksDueDialog(QDialog):
    """Your tasks due today and overdue; `open_deal` selects a deal in the Deals pane."""

    def __init__(self, signed_in: SignedIn, open_deal: Callable[[str], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tasksDueDialog")
        self.setWindowTitle("Tasks due")
        self.signed_in = signed_in
        self.open_deal = open_deal
        layout = QVBoxLayout(self)
        layout.addWidget(muted("Your open tasks and next steps due today or earlier."))
        self.list = QListWidget()
        self.list.setObjectName("tasksDueList")
        self.list.setAccessibleName("Tasks due")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSpacing(3)  # entries of two or three lines read apart
        self.list.itemDoubleClicked.connect(lambda _i: self._open())
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.list, 1)
        self.count = QLabel()
        self.count.setObjectName("tasksDueCount")
        row = QHBoxLayout()
        row.addWidget(self.count, 1)
        self.done_button = button("Done", "verify", self.mark_done, name="taskDoneButton")
        self.open_button = button("Open deal", "deals", self._open, name="openTaskDealButton")
        row.addWidget(self.done_button)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        # Wide enough for a task's deal title on its first line; fits 1366x768.
        self.resize(680, 440)
        self.reload()

    def reload(self) -> None:
        session = self.signed_in.core
        got = ops.read(lambda: timeline.tasks_due(session), parent=self,
                       title="Cannot list your tasks")
        self.list.clear()
        for t in got.value or []:
            item = QListWidgetItem(task_text(t))
            item.setData(TASK_ROLE, t)
            self.list.addItem(item)
        n = self.list.count()
        self.count.setText("Nothing due: well done." if not n else
                           f"{n} task{'s' if n != 1 else ''} due today or overdue")
        if n:
            self.list.setCurrentRow(0)
        self._update_buttons()

    def selected(self) -> DueTask | None:
        item = self.list.currentItem()
        value = item.data(TASK_ROLE) if item is not None else None
        return value if isinstance(value, DueTask) else None

    def _update_buttons(self) -> None:
        has = self.selected() is not None
        self.done_button.setEnabled(has)
        self.open_button.setEnabled(has)

    def mark_done(self) -> None:
        t = self.selected()
        if t is None:
            return
        session = self.signed_in.core
        done = ops.run_now(lambda: activities.complete_task(session, t.activity.id),
                           parent=self, title="Cannot complete the task",
                           changes={Kind.DEALS}, hub=self.signed_in.changes)
        if done.ok:
            self.reload()

    def _open(self) -> None:
        t = self.selected()
        if t is not None:
            self.open_deal(t.activity.deal_id)
            self.accept()
