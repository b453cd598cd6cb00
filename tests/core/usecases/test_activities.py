"""Deal activities (issue 15): add, edit, complete, delete with the deal's permissions,
validation with clear messages, the outbox rows sync pushes, and "Tasks due"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from support import Env, sql

from closeplan_desktop.core.domain import clock
from closeplan_desktop.core.domain.enums import ActivityKind
from closeplan_desktop.core.domain.errors import (
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from closeplan_desktop.core.usecases import activities, deals, timeline


def outbox(env: Env, activity_id: str) -> list[tuple[str, str | None]]:
    env.ws.engine.dispose()
    return [(str(op), None if f is None else str(f)) for op, f in sql(
        env.path, "SELECT op, fields FROM outbox WHERE entity = 'deal_activities' AND "
                  "entity_id = ? ORDER BY id", (activity_id,))]


def test_add_edit_complete_delete_with_outbox_rows(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    act = activities.add_activity(env.user, deal.id, "Task", "  Send the quote  ",
                                  due="2026-12-03")
    assert act.kind == ActivityKind.TASK and act.body == "Send the quote"
    assert act.due_at is not None and act.due_at.date() == date(2026, 12, 3)
    edited = activities.edit_activity(env.user, act.id, body="Send the signed quote")
    assert edited.body == "Send the signed quote"
    done = activities.complete_task(env.user, act.id)
    assert done.done_at is not None
    again = activities.complete_task(env.user, act.id, done=False)
    assert again.done_at is None
    gone = activities.delete_activity(env.user, act.id)
    assert gone.deleted
    assert outbox(env, act.id) == [("create", None), ("update", '["body"]'),
                                   ("update", '["done_at"]'), ("update", '["done_at"]'),
                                   ("delete", None)]
    with pytest.raises(NotFoundError):
        activities.edit_activity(env.user, act.id, body="after delete")
    assert timeline.timeline(env.user, deal.id)[0].history is not None  # deleted: not listed


def test_permissions_follow_the_deal_and_the_author(env: Env) -> None:
    admins = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "1.00")
    with pytest.raises(PermissionDenied, match="owner or an administrator"):
        activities.add_activity(env.user, admins.id, "note", "Not my deal")
    note = activities.add_activity(env.admin, admins.id, "note", "Admin's note")
    with pytest.raises(PermissionDenied, match="author or an administrator"):
        activities.edit_activity(env.user, note.id, body="rewritten")
    with pytest.raises(PermissionDenied):
        activities.delete_activity(env.user, note.id)
    # An admin edits anyone's; the owner of the deal completes a task on it.
    bobs = deals.create_deal(env.user, "Bob's deal", "ACTIVE", "2.00")
    task = activities.add_activity(env.admin, bobs.id, "task", "Call back", due=date.today())
    assert activities.complete_task(env.user, task.id).done_at is not None
    own = activities.add_activity(env.user, bobs.id, "note", "Bob's note")
    assert activities.edit_activity(env.admin, own.id, body="fixed typo").body == "fixed typo"
    assert not timeline.timeline(env.user, admins.id)[0].activity.may_edit  # type: ignore[union-attr]
    env.ws.engine.dispose()
    denied = sql(env.path, "SELECT detail FROM security_events WHERE type = 'ACCESS_DENIED'")
    assert any('"add activity"' in str(d[0]) for d in denied)
    assert any('"edit activity"' in str(d[0]) for d in denied)


@pytest.mark.parametrize(("kind", "body", "due", "message"), [
    ("fax", "text", None, "Activity kind must be one of"),
    ("note", "   ", None, "Activity text is required"),
    ("note", "x" * 1001, None, "at most 1000 characters"),
    ("note", "bell\x07", None, "control or unassigned"),
    ("note", "text", "2026-12-01", "Only a task or a next step has a due date"),
    ("task", "text", "next tuesday", "Due date must be a date"),
    ("task", "text", "1999-12-31", "between 2000 and 2999"),
])
def test_bad_input_is_refused_with_a_clear_message(env: Env, kind: str, body: str,
                                                   due: str | None, message: str) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    with pytest.raises(ValidationError, match=message):
        activities.add_activity(env.user, deal.id, kind, body, due=due)
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT count(*) FROM deal_activities")[0][0] == 0


def test_deleted_deal_or_other_deal_refuses(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    deals.delete_deal(env.user, deal.id)
    with pytest.raises(ValidationError, match="restore it"):
        activities.add_activity(env.user, deal.id, "note", "late note")
    with pytest.raises(NotFoundError):
        activities.add_activity(env.user, "c" + "2" * 24, "note", "nowhere")
    with pytest.raises(ValidationError, match="Only a task or a next step can be marked"):
        live = deals.create_deal(env.user, "Live", "DRAFT", "1.00")
        note = activities.add_activity(env.user, live.id, "note", "a note")
        activities.complete_task(env.user, note.id)


def test_tasks_due_lists_own_open_tasks_due_today_or_before(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    today = clock.local_today()
    overdue = activities.add_activity(env.user, deal.id, "task", "Overdue",
                                      due=today - timedelta(days=3))
    due_today = activities.add_activity(env.user, deal.id, "next step", "Today", due=today)
    activities.add_activity(env.user, deal.id, "task", "Tomorrow", due=today + timedelta(days=1))
    done = activities.add_activity(env.user, deal.id, "task", "Done", due=today)
    activities.complete_task(env.user, done.id)
    activities.add_activity(env.admin, deal.id, "task", "Admin's own", due=today)
    got = timeline.tasks_due(env.user)
    assert [t.activity.id for t in got] == [overdue.id, due_today.id]
    assert got[0].activity.overdue and not got[1].activity.overdue
    assert got[0].deal_title == "Clinic pilot"
    assert [t.activity.body for t in timeline.tasks_due(env.admin)] == ["Admin's own"]


def test_outbox_payload_of_an_activity_is_the_whole_row(env: Env) -> None:
    deal = deals.create_deal(env.user, "Clinic pilot", "DRAFT", "100.00")
    act = activities.add_activity(env.user, deal.id, "meeting", "Demo on site")
    env.ws.engine.dispose()
    payload = json.loads(str(sql(env.path, "SELECT payload FROM outbox WHERE entity_id = ?",
                                 (act.id,))[0][0]))
    assert payload["kind"] == "MEETING" and payload["deal_id"] == deal.id
    assert payload["body"] == "Demo on site" and payload["due_at"] is None


@pytest.fixture
def new_york_evening() -> Iterator[None]:
    """01:30 UTC on 2 December is still the evening of 1 December in UTC-5."""
    clock.set_clock(lambda: datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
                    timezone(timedelta(hours=-5)))
    yield
    clock.set_clock()


def test_today_is_the_users_local_day_not_utcs(env: Env, new_york_evening: None) -> None:
    assert clock.local_today() == date(2026, 12, 1)
    deal = deals.create_deal(env.user, "Evening deal", "ACTIVE", "1")
    today = activities.add_activity(env.user, deal.id, "task", "Due today", due="2026-12-01")
    activities.add_activity(env.user, deal.id, "task", "Due tomorrow", due="2026-12-02")
    got = timeline.tasks_due(env.user)
    # In UTC it is already the 2nd: the task due on the 2nd would be listed and the 1st's
    # overdue. In the user's zone the 1st is today.
    assert [t.activity.body for t in got] == ["Due today"]
    assert not got[0].activity.overdue and got[0].activity.due_day == date(2026, 12, 1)
    assert today.due_day == date(2026, 12, 1)
    clock.set_clock(lambda: datetime(2026, 12, 2, 5, 30, tzinfo=UTC),
                    timezone(timedelta(hours=-5)))
    assert [t.activity.body for t in timeline.tasks_due(env.user)] == ["Due today",
                                                                      "Due tomorrow"]
    assert timeline.tasks_due(env.user)[0].activity.overdue
