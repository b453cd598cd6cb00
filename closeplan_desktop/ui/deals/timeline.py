"""The deal's timeline in the detail panel (issue 15): its activities and its history,
newest first, a page at a time, and a form to add a note, call, meeting, email, task or
next step. The form says, under the text, that activities are not PHI. All rules
(permissions, validation) are core's: the panel shows core's message when it refuses.
"""

from __future__ import annotations

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.domain.enums import ActivityKind
from ...core.usecases import activities, timeline
from ...core.usecases.activities import ActivityView
from ...core.usecases.deal_list import DealSummary
from ...core.usecases.deals import may_change
from ...core.usecases.timeline import HistoryEntry, TimelineEntry
from ..kit import ops
from ..kit.date_field import DateField
from ..kit.formatting import local_day, local_minute
from ..kit.ops import Kind
from ..kit.widgets import button, error_line, set_message
from ..signed_in import SignedIn

PAGE = 20
KIND_LABELS = {ActivityKind.NOTE: "Note", ActivityKind.CALL: "Call",
               ActivityKind.MEETING: "Meeting", ActivityKind.EMAIL: "Email",
               ActivityKind.TASK: "Task", ActivityKind.NEXT_STEP: "Next step"}
DUE_KINDS = (ActivityKind.TASK, ActivityKind.NEXT_STEP)
ACTIVITY_ROLE = Qt.ItemDataRole.UserRole


def activity_text(a: ActivityView) -> str:
    """One activity as the timeline lists it."""
    head = f"{KIND_LABELS[a.kind]} · {a.created_by_name} · {local_minute(a.created_at)}"
    if a.due_at is not None:
        state = "done" if a.done_at else ("OVERDUE" if a.overdue else "open")
        head += f" · due {local_day(a.due_at)} ({state})"
    return f"{head}\n{a.body}"


def history_text(h: HistoryEntry) -> str:
    """One history entry as the timeline lists it."""
    return f"History · {h.user_name} · {local_minute(h.at)}\n{h.describe()}"


class TimelineBox(QGroupBox):
    """Activities and history of the shown deal, and the form to add an activity."""

    def __init__(self, signed_in: SignedIn, parent: QWidget | None = None) -> None:
        super().__init__("Activity and history", parent)
        self.setObjectName("timelineBox")
        self.signed_in = signed_in
        self.deal: DealSummary | None = None
        self._form_deal: str | None = None
        self.shown = 0
        layout = QVBoxLayout(self)

        self.kind = QComboBox()
        self.kind.setObjectName("activityKind")
        self.kind.setAccessibleName("Activity kind")
        for k, label in KIND_LABELS.items():
            self.kind.addItem(label, k)
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.due = DateField(QDate.currentDate())
        self.due.setObjectName("activityDue")
        self.due.setAccessibleName("Due date")
        self.due.calendar.setMaximumDate(QDate(2999, 12, 31))
        self.due.calendar.setMinimumDate(QDate(2000, 1, 1))
        top = QHBoxLayout()
        top.addWidget(self.kind, 1)
        top.addWidget(self.due, 1)
        layout.addLayout(top)
        self.body = QPlainTextEdit()
        self.body.setObjectName("activityBody")
        self.body.setAccessibleName("Activity text")
        self.body.setPlaceholderText("What happened, or what comes next…")
        self.body.setTabChangesFocus(True)
        self.body.setFixedHeight(self.body.fontMetrics().lineSpacing() * 3 + 14)
        layout.addWidget(self.body)
        # Which is which: this text is stored in the clear; PHI only in the PHI fields.
        self.hint = QLabel(activities.NOT_PHI_HINT)
        self.hint.setObjectName("activityNotPhi")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.error = error_line("activityError")
        layout.addWidget(self.error)
        self.add_button = button("Add", "add", self.add, name="addActivityButton")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.add_button)
        layout.addLayout(row)

        self.list = QListWidget()
        self.list.setObjectName("timelineList")
        self.list.setAccessibleName("Timeline")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(260)
        self.list.setSpacing(3)
        # Whole entries: wrapped to the width, never elided (rows grow to their text).
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.list, 1)
        actions = QHBoxLayout()
        self.done_button = button("Done", "verify", self.toggle_done, name="activityDoneButton")
        self.delete_button = button("Delete", "delete", self.delete,
                                    name="deleteActivityButton")
        self.more_button = QPushButton("Show older")
        self.more_button.setObjectName("timelineMore")
        self.more_button.clicked.connect(self.load_more)
        actions.addWidget(self.done_button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        actions.addWidget(self.more_button)
        layout.addLayout(actions)
        self._kind_changed()
        self._update_buttons()

    # ---- showing --------------------------------------------------------------------

    def show_deal(self, deal: DealSummary | None) -> None:
        """Show `deal`'s first page (None: nothing)."""
        self.deal = deal
        # A refresh (the list reloads after every write, passing through no deal) keeps
        # what is typed; another deal starts an empty form.
        if deal is not None and deal.id != self._form_deal:
            self._form_deal = deal.id
            self.body.clear()
            self.due.clear()
            set_message(self.error, "")
        self.list.clear()
        self.shown = 0
        can_add = (deal is not None and deal.deleted_at is None
                   and may_change(self.signed_in.core, deal.owner_id))
        for w in (self.kind, self.due, self.body, self.add_button):
            w.setEnabled(can_add)
        self.add_button.setToolTip("" if can_add else "Only the deal's owner or an "
                                   "administrator can add to a live deal.")
        if deal is not None:
            self.load_more()
        self._update_buttons()

    def load_more(self) -> None:
        """The next page of older entries."""
        deal = self.deal
        if deal is None:
            return
        session = self.signed_in.core
        got = ops.read(lambda: timeline.timeline(session, deal.id, self.shown, PAGE),
                       parent=self, title="Cannot show the timeline")
        entries = got.value or []
        for entry in entries:
            self._add_item(entry)
        self.shown += len(entries)
        self.more_button.setVisible(len(entries) == PAGE)
        if not self.list.count():
            empty = QListWidgetItem("Nothing yet: add a note, a call or a next step above.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(empty)

    def _add_item(self, entry: TimelineEntry) -> None:
        if entry.activity is not None:
            item = QListWidgetItem(activity_text(entry.activity))
            item.setData(ACTIVITY_ROLE, entry.activity)
        else:
            assert entry.history is not None
            item = QListWidgetItem(history_text(entry.history))
            item.setForeground(self.palette().placeholderText())
        self.list.addItem(item)

    def entries_text(self) -> list[str]:
        """The listed entries' text, top first (for tests and screen readers)."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def selected_activity(self) -> ActivityView | None:
        item = self.list.currentItem()
        value = item.data(ACTIVITY_ROLE) if item is not None else None
        return value if isinstance(value, ActivityView) else None

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        self.due.setVisible(kind in DUE_KINDS)

    def _update_buttons(self) -> None:
        act = self.selected_activity()
        session = self.signed_in.core
        deal = self.deal
        may_deal = deal is not None and may_change(session, deal.owner_id)
        self.done_button.setEnabled(act is not None and act.kind in DUE_KINDS
                                    and (act.may_edit or may_deal))
        self.done_button.setText("Reopen" if act is not None and act.done_at else "Done")
        self.delete_button.setEnabled(act is not None and act.may_edit)

    # ---- actions --------------------------------------------------------------------

    def _write(self, work: object, title: str) -> bool:
        assert callable(work)
        done = ops.run_now(work, parent=self, title=title, changes={Kind.DEALS},
                           hub=self.signed_in.changes,
                           on_failure=lambda text: set_message(self.error, text))
        if done.ok:
            set_message(self.error, "")
            self.show_deal(self.deal)
        return done.ok

    def add(self) -> None:
        deal = self.deal
        if deal is None:
            return
        session = self.signed_in.core
        kind = self.kind.currentData()
        text = self.body.toPlainText()
        due = self.due.text() if kind in DUE_KINDS else None
        if self._write(lambda: activities.add_activity(session, deal.id, kind, text, due=due),
                       "Cannot add the activity"):
            self.body.clear()
            self.due.clear()

    def toggle_done(self) -> None:
        act = self.selected_activity()
        if act is not None:
            session = self.signed_in.core
            self._write(lambda: activities.complete_task(session, act.id,
                                                         done=act.done_at is None),
                        "Cannot change the task")

    def delete(self) -> None:
        act = self.selected_activity()
        if act is not None:
            session = self.signed_in.core
            self._write(lambda: activities.delete_activity(session, act.id),
                        "Cannot delete the activity")
