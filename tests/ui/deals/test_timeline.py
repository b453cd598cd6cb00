"""The deal's timeline in the detail panel and "Tasks due" (issue 15), in the real
window: add an activity (the form says the text is not PHI), see it above the history,
mark a task done, delete, core's refusals shown in the form, and the tasks view one
click from the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support import Env, sql

from closeplan_desktop.core.domain.clock import utcnow
from closeplan_desktop.core.usecases import activities, deals
from closeplan_desktop.ui.deals.tasks import TasksDueDialog
from closeplan_desktop.ui.main_window import MainWindow
from closeplan_desktop.ui.signed_in import SignedIn


@pytest.fixture
def window(env: Env, qtbot: QtBot) -> Iterator[MainWindow]:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    deals.update_deal(env.user, deal.id, status="ACTIVE")
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    w.deals.table.selectRow(0)
    yield w
    w.close()


def test_add_a_note_and_a_task_then_complete_and_delete(window: MainWindow, env: Env,
                                                        qtbot: QtBot) -> None:
    box = window.deals.detail.timeline
    assert box.isVisible()
    assert "not encrypted" in box.hint.text() and "PHI fields" in box.hint.text()
    assert [t.splitlines()[1] for t in box.entries_text()] == [
        "Changed: Status: Draft → Active",
        "Created: Title: Clinic pilot; Status: Draft; Value: $100.00"]
    box.kind.setCurrentIndex(box.kind.findText("Call"))
    assert not box.due.isVisibleTo(box)
    box.body.setPlainText("Called the buyer")
    qtbot.mouseClick(box.add_button, qtbot_left())
    box.kind.setCurrentIndex(box.kind.findText("Task"))
    assert box.due.isVisibleTo(box)
    box.body.setPlainText("Send the quote")
    box.due.setText((utcnow().date() - timedelta(days=1)).isoformat())
    qtbot.mouseClick(box.add_button, qtbot_left())
    texts = box.entries_text()
    assert texts[0].startswith("Task · Bob Sales") and "OVERDUE" in texts[0]
    assert texts[1].endswith("Called the buyer")
    assert box.body.toPlainText() == ""
    box.list.setCurrentRow(0)
    assert box.done_button.isEnabled() and box.done_button.text() == "Done"
    qtbot.mouseClick(box.done_button, qtbot_left())
    assert "(done)" in box.entries_text()[0]
    box.list.setCurrentRow(1)
    assert box.delete_button.isEnabled()
    qtbot.mouseClick(box.delete_button, qtbot_left())
    assert not any(t.endswith("Called the buyer") for t in box.entries_text())
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT kind, deleted_at IS NOT NULL FROM deal_activities "
                         "ORDER BY created_at") == [("CALL", 1), ("TASK", 0)]


def test_core_refusal_shows_in_the_form_and_keeps_the_text(window: MainWindow,
                                                           qtbot: QtBot) -> None:
    box = window.deals.detail.timeline
    box.kind.setCurrentIndex(box.kind.findText("Task"))
    box.body.setPlainText("Send the quote")
    box.due.setText("next week")
    qtbot.mouseClick(box.add_button, qtbot_left())
    assert "Due date must be a date" in box.error.text()
    assert box.body.toPlainText() == "Send the quote"


def test_another_users_deal_cannot_be_added_to(env: Env, qtbot: QtBot) -> None:
    deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "1.00")
    w = MainWindow(SignedIn(env.ws, env.user))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.deals.table.selectRow(0)
    box = w.deals.detail.timeline
    assert not box.add_button.isEnabled() and "owner" in box.add_button.toolTip()
    w.close()


def test_tasks_due_is_one_click_away_and_opens_the_deal(window: MainWindow, env: Env,
                                                        qtbot: QtBot) -> None:
    deal = window.deals.selected_deal()
    assert deal is not None
    task = activities.add_activity(env.user, deal.id, "task", "Call back",
                                   due=utcnow().date())
    shown: list[TasksDueDialog] = []

    def fake_exec(dialog: TasksDueDialog) -> int:
        shown.append(dialog)
        return 0

    with pytest.MonkeyPatch.context() as m:
        m.setattr(TasksDueDialog, "exec", fake_exec)
        qtbot.mouseClick(window.deals.tasks_button, qtbot_left())
    dialog = shown[0]
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 1 and "Call back" in dialog.list.item(0).text()
    assert dialog.count.text() == "1 task due today or overdue"
    qtbot.mouseClick(dialog.done_button, qtbot_left())
    assert dialog.list.count() == 0 and dialog.count.text().startswith("Nothing due")
    activities.complete_task(env.user, task.id, done=False)
    dialog.reload()
    opened: list[str] = []
    dialog.open_deal = opened.append
    qtbot.mouseClick(dialog.open_button, qtbot_left())
    assert opened == [deal.id]


def qtbot_left() -> Qt.MouseButton:
    return Qt.MouseButton.LeftButton
