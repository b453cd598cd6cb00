"""closeplan-admin deals views | export (issue 15), as a user runs them."""

from __future__ import annotations

import csv
from pathlib import Path

from support import ADMIN_EMAIL, ADMIN_PASSWORD, Result, run_cli, sql


def admin(ws: Path, *args: str, extra: str = "") -> Result:
    return run_cli(*args, "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin",
                   stdin=f"{ADMIN_PASSWORD}\n{extra}")


def test_views_save_list_default_and_export_a_view(cli_ws: Path, tmp_path: Path) -> None:
    for title, status in (("Cardio suite", "ACTIVE"), ("=cmd|calc", "ACTIVE"),
                          ("Old draft", "DRAFT")):
        assert admin(cli_ws, "deals", "add", "--title", title, "--status", status,
                     "--value", "10").code == 0
    r = admin(cli_ws, "deals", "views", "save", "Active", "--status", "ACTIVE", "--sort",
              "title", "--asc")
    assert r.code == 0, r.err
    assert "status ACTIVE" in r.out
    assert admin(cli_ws, "deals", "views", "default", "Active").code == 0
    r = admin(cli_ws, "deals", "views", "list")
    assert "All deals" in r.out and "Active" in r.out and "default" in r.out
    r = admin(cli_ws, "deals", "views", "save", "active")
    assert r.code == 1 and "already have a view named" in r.err
    out = tmp_path / "active.csv"
    r = admin(cli_ws, "deals", "export", "--view", "Active", "--out", str(out))
    assert r.code == 0, r.err
    assert "Exported 2 deals" in r.out
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [row[1] for row in rows[1:]] == ["'=cmd|calc", "Cardio suite"]
    r = admin(cli_ws, "deals", "export", "--view", "Nope", "--out", str(out))
    assert r.code == 1 and "no view named 'Nope'" in r.err
    r = admin(cli_ws, "deals", "export", "--mine", "--status", "DRAFT", "--out", str(out))
    assert r.code == 0 and "Exported 1 deals" in r.out, r.err
    r = admin(cli_ws, "deals", "export", "--close-from", "soon", "--out", str(out))
    assert r.code != 0 and "YYYY-MM-DD" in r.err
    r = admin(cli_ws, "deals", "views", "list")
    assert "My deals" in r.out


def test_export_with_phi_reads_the_reason_from_stdin(cli_ws: Path, tmp_path: Path) -> None:
    r = admin(cli_ws, "deals", "add", "--title", "With PHI", "--status", "ACTIVE", "--value",
              "1", "--phi", "-", extra='{"mrn": "MRN-77"}\n')
    assert r.code == 0, r.err
    out = tmp_path / "phi.csv"
    refused = admin(cli_ws, "deals", "export", "--out", str(out), "--with-phi", "--reason",
                    "because")
    assert refused.code != 0 and "not accepted" in refused.err and not out.exists()
    missing = admin(cli_ws, "deals", "export", "--out", str(out), "--with-phi")
    assert missing.code == 1 and "needs a reason" in missing.err and not out.exists()
    r = admin(cli_ws, "deals", "export", "--out", str(out), "--with-phi", "--reason", "-",
              extra="Payer audit\n")
    assert r.code == 0, r.err
    assert "unencrypted" in r.err and "PHI of 1 deals" in r.out
    assert "MRN-77" in out.read_text(encoding="utf-8")
    assert sql(cli_ws, "SELECT reason FROM access_logs WHERE action = 'PHI_ACCESS'") == [
        ("Payer audit",)]
