"""closeplan-admin deals add | edit | reassign | list | forecast with owners, close
dates and probabilities (issue 15), as a user runs them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from support import ADMIN_EMAIL, ADMIN_PASSWORD, Result, run_cli

from closeplan_desktop.core.domain.clock import local_today

REP = "rita@acme-health.example"
REP_PW = "rita's long password"


def admin(ws: Path, *args: str) -> Result:
    return run_cli(*args, "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin",
                   stdin=f"{ADMIN_PASSWORD}\n")


def rep(ws: Path, *args: str) -> Result:
    return run_cli(*args, "--workspace", ws, "--as", REP, "--password-stdin",
                   stdin=f"{REP_PW}\n")


def listed(result: Result) -> list[dict[str, object]]:
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_owner_close_date_probability_from_the_command_line(cli_ws: Path) -> None:
    r = run_cli("user", "add", REP, "--first-name", "Rita", "--last-name", "Sales",
                "--workspace", cli_ws, "--as", ADMIN_EMAIL, "--password-stdin",
                stdin=f"{ADMIN_PASSWORD}\n{REP_PW}\n")
    assert r.code == 0, r.err
    late = (local_today() - timedelta(days=3)).isoformat()
    r = admin(cli_ws, "deals", "add", "--title", "Rita's pumps", "--status", "ACTIVE",
              "--value", "1000", "--owner", REP, "--close-date", late, "--probability", "30")
    assert r.code == 0, r.err
    ritas = r.out.strip()
    r = admin(cli_ws, "deals", "add", "--title", "Admin's beds", "--status", "DRAFT",
              "--value", "200")
    mine = r.out.strip()
    assert [d["id"] for d in listed(rep(cli_ws, "deals", "list", "--mine", "--json"))] == [ritas]
    assert [d["id"] for d in listed(admin(cli_ws, "deals", "list", "--owner", REP,
                                          "--json"))] == [ritas]
    overdue = listed(admin(cli_ws, "deals", "list", "--overdue", "--json"))
    assert [(d["id"], d["overdue"], d["probability"]) for d in overdue] == [(ritas, True, 30)]
    r = admin(cli_ws, "deals", "list", "--sort", "expected_close_date", "--asc")
    assert r.code == 0 and "OVERDUE" in r.out and "Rita Sales" in r.out
    assert r.out.index("Admin's beds") < r.out.index("Rita's pumps")  # no date first
    assert [d["id"] for d in listed(admin(cli_ws, "deals", "list", "--closing-from", late,
                                          "--closing-to", late, "--json"))] == [ritas]
    r = admin(cli_ws, "deals", "forecast")
    assert r.code == 0, r.err
    assert "Open deals" in r.out and "320.00" in r.out  # 1000 x 30% + 200 x 10%
    r = rep(cli_ws, "deals", "forecast", "--mine")
    assert "300.00" in r.out and "320.00" not in r.out

    # The rep edits her deal, hands it to the admin, and then may no longer edit it.
    assert rep(cli_ws, "deals", "edit", ritas, "--probability", "", "--close-date", "").code == 0
    r = rep(cli_ws, "deals", "show", ritas)
    assert "Probability: 50% (status default)" in r.out and "Expected close: none" in r.out
    r = rep(cli_ws, "deals", "reassign", ritas, ADMIN_EMAIL)
    assert r.code == 0 and "now belongs to Ada Admin" in r.out
    r = rep(cli_ws, "deals", "edit", ritas, "--title", "Mine again")
    assert r.code == 1 and "owner or an administrator" in r.err
    r = admin(cli_ws, "deals", "history", ritas)
    assert "Owner: Rita Sales → Ada Admin" in r.out

    # Mistakes get clear messages and change nothing.
    r = admin(cli_ws, "deals", "edit", mine, "--probability", "150")
    assert r.code == 1 and "Probability must be a whole percent" in r.err
    r = admin(cli_ws, "deals", "reassign", mine, "nobody@acme-health.example")
    assert r.code == 1 and "No user with this email" in r.err
    r = admin(cli_ws, "deals", "list", "--closing-from", "soon")
    assert r.code != 0 and "--closing-from" in r.err
    r = admin(cli_ws, "deals", "edit", mine)
    assert r.code != 0 and "nothing to change" in r.err
