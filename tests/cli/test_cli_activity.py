"""closeplan-admin deals activity | tasks | history (issue 15), as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support import ADMIN_EMAIL, ADMIN_PASSWORD, Result, run_cli, sql


def admin(ws: Path, *args: str) -> Result:
    return run_cli(*args, "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin",
                   stdin=f"{ADMIN_PASSWORD}\n")


def test_activity_add_list_done_delete_tasks_and_history(cli_ws: Path) -> None:
    r = admin(cli_ws, "deals", "add", "--title", "Clinic pilot", "--status", "DRAFT",
              "--value", "100")
    assert r.code == 0, r.err
    deal_id = r.out.strip()
    today = datetime.now(UTC).date()
    r = admin(cli_ws, "deals", "activity", "add", deal_id, "--kind", "task", "--text",
              "Send the quote", "--due", (today - timedelta(days=1)).isoformat())
    assert r.code == 0, r.err
    task_id = r.out.strip()
    assert admin(cli_ws, "deals", "activity", "add", deal_id, "--text", "Met the buyer").code == 0
    r = admin(cli_ws, "deals", "activity", "list", deal_id, "--json")
    listed = [json.loads(line) for line in r.out.splitlines()]
    assert [(x["kind"], x["body"]) for x in listed] == [("NOTE", "Met the buyer"),
                                                        ("TASK", "Send the quote")]
    r = admin(cli_ws, "deals", "tasks")
    assert r.code == 0 and "Send the quote" in r.out and "OVERDUE" in r.out
    assert "1 due today or overdue" in r.out
    assert admin(cli_ws, "deals", "activity", "done", task_id).code == 0
    assert "0 due today or overdue" in admin(cli_ws, "deals", "tasks").out
    assert admin(cli_ws, "deals", "activity", "delete", task_id).code == 0
    assert sql(cli_ws, "SELECT deleted_at IS NOT NULL FROM deal_activities WHERE id = ?",
               (task_id,)) == [(1,)]
    r = admin(cli_ws, "deals", "history", deal_id)
    assert r.code == 0 and "Created: Title: Clinic pilot; Status: Draft; Value: $100.00" in r.out


def test_bad_activity_input_exits_1_with_one_line_and_changes_nothing(cli_ws: Path) -> None:
    deal_id = admin(cli_ws, "deals", "add", "--title", "T", "--status", "DRAFT",
                    "--value", "1").out.strip()
    r = admin(cli_ws, "deals", "activity", "add", deal_id, "--kind", "task", "--text", "x",
              "--due", "someday")
    assert r.code == 1 and "Due date must be a date" in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    r = admin(cli_ws, "deals", "activity", "add", deal_id)
    assert r.code == 2 and "needs --text" in r.err
    r = admin(cli_ws, "deals", "history", "c" + "9" * 24)
    assert r.code == 1 and "No such deal" in r.err
    assert sql(cli_ws, "SELECT count(*) FROM deal_activities") == [(0,)]
