"""closeplan-admin deals activity | tasks | history: a deal's notes and activities, the
signed-in user's tasks due, and a deal's history of changes (issue 15). None of it is
PHI: activities are stored unencrypted, so patient details stay in the deal's PHI."""

from __future__ import annotations

import json

from ..core.usecases import activities, timeline
from ..core.usecases.activities import ActivityView
from .context import EXIT_OK, Context, UsageError
from .deals import DEALS
from .output import clip, table, when
from .registry import arg, command

VERBS = ("add", "list", "edit", "done", "reopen", "delete")
KINDS = ("note", "call", "meeting", "email", "task", "next-step")


def _line(a: ActivityView) -> list[str]:
    state = "done" if a.done_at else ("OVERDUE" if a.overdue else "")
    due = a.due_at.date().isoformat() if a.due_at else ""
    return [a.id, a.kind.value.lower().replace("_", " "), clip(a.body.replace("\n", " "), 60),
            due, state, a.created_by_name, when(a.created_at)]


HEAD = ["ID", "KIND", "TEXT", "DUE", "STATE", "BY", "ADDED"]


def _as_json(a: ActivityView) -> str:
    return json.dumps({"id": a.id, "deal_id": a.deal_id, "kind": a.kind.value,
                       "body": a.body, "due": a.due_at.date().isoformat() if a.due_at else None,
                       "done_at": a.done_at.isoformat() if a.done_at else None,
                       "by": a.created_by_name, "created_at": a.created_at.isoformat()},
                      ensure_ascii=False)


@command(DEALS, "activity", help="a deal's activities: add DEAL_ID, list DEAL_ID, edit | done "
         "| reopen | delete ACTIVITY_ID (not PHI: patient details go in the deal's PHI)",
         args=[arg("verb", choices=VERBS), arg("id", help="the deal's id (add, list) or the "
                                                          "activity's (the others)"),
               arg("--kind", choices=KINDS, help="add: what it is (default: note); edit"),
               arg("--text", help="add, edit: the text (not PHI; at most 1000 characters)"),
               arg("--due", help="add, edit: the due day of a task or next step, "
                                 "YYYY-MM-DD ('' clears it)"),
               arg("--offset", type=int, default=0), arg("--limit", type=int, default=50),
               arg("--json", action="store_true", help="list: JSON lines")])
def activity(ctx: Context) -> int:
    a = ctx.args
    if a.verb == "add" and a.text is None:
        raise UsageError("deals activity add needs --text")
    if a.verb == "edit" and a.text is None and a.kind is None and a.due is None:
        raise UsageError("deals activity edit needs --text, --kind or --due")
    with ctx.session() as s:
        if a.verb == "list":
            entries = [e.activity for e in timeline.timeline(s, a.id, a.offset, a.limit)
                       if e.activity is not None]
            if a.json:
                for act in entries:
                    ctx.print(_as_json(act))
            else:
                ctx.print(table([_line(act) for act in entries], HEAD))
            return EXIT_OK
        if a.verb == "add":
            done = activities.add_activity(s, a.id, a.kind or "note", a.text, due=a.due)
            ctx.print(done.id)
            return EXIT_OK
        if a.verb == "edit":
            changes = {k: v for k, v in (("kind", a.kind), ("body", a.text), ("due", a.due))
                       if v is not None}
            done = activities.edit_activity(s, a.id, **changes)
        elif a.verb in ("done", "reopen"):
            done = activities.complete_task(s, a.id, done=a.verb == "done")
        else:
            done = activities.delete_activity(s, a.id)
    ctx.print(table([_line(done)], HEAD))
    return EXIT_OK


@command(DEALS, "tasks", help="your open tasks and next steps due today or overdue", args=[
    arg("--json", action="store_true", help="JSON lines instead of a table")])
def tasks(ctx: Context) -> int:
    with ctx.session() as s:
        due = timeline.tasks_due(s)
    if ctx.args.json:
        for t in due:
            ctx.print(_as_json(t.activity))
        return EXIT_OK
    ctx.print(table([[*_line(t.activity)[:5], clip(t.deal_title, 40)] for t in due],
                    [*HEAD[:5], "DEAL"]))
    ctx.print(f"{len(due)} due today or overdue")
    return EXIT_OK


@command(DEALS, "history", help="a deal's changes, newest first (PHI only as 'PHI changed')",
         args=[arg("id"), arg("--json", action="store_true", help="JSON lines")])
def history(ctx: Context) -> int:
    with ctx.session() as s:
        entries = timeline.deal_history(s, ctx.args.id)
    if ctx.args.json:
        for e in entries:
            ctx.print(json.dumps({"id": e.id, "op": e.op, "at": e.at.isoformat(),
                                  "by": e.user_name,
                                  "changes": [{"field": c.field, "old": c.old, "new": c.new,
                                               "phi_changed": c.phi} for c in e.changes]},
                                 ensure_ascii=False))
        return EXIT_OK
    ctx.print(table([[when(e.at), e.user_name, e.describe()] for e in entries],
                    ["WHEN", "BY", "CHANGE"]))
    return EXIT_OK
