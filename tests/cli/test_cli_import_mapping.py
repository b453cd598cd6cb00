"""closeplan-admin deals import with a mapping (issue 15): HubSpot- and Pipedrive-shaped
exports end to end, --dry-run, problems by line with nothing written, the mapping
remembered for the next file of the same layout."""

from __future__ import annotations

import json
from pathlib import Path

from crm_exports import HUBSPOT_CSV, HUBSPOT_STAGES, PIPEDRIVE_CSV, PIPEDRIVE_STAGES
from support import ADMIN_EMAIL, ADMIN_PASSWORD, USER_EMAIL, USER_PASSWORD, Result, run_cli, sql

PW = ADMIN_PASSWORD + "\n"
def as_admin(ws: Path, *args: object) -> Result:
    return run_cli(*args, "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin", stdin=PW)


def stages(mapped: dict[str, str]) -> list[str]:
    out: list[str] = []
    for value, status in mapped.items():
        out += ["--stage", f"{value}={status}"]
    return out


def counts(ws: Path) -> list[object]:
    """Deals, their logs, outbox rows, activities and remembered layouts."""
    return [sql(ws, f"SELECT count(*) FROM {t}")[0][0] for t in
            ("deals", "access_logs", "outbox", "deal_activities",
             "workspace_meta WHERE key LIKE 'import_layout:%'")]


def add_bob(ws: Path) -> None:
    r = run_cli("user", "add", USER_EMAIL, "--first-name", "Bob", "--last-name", "Sales",
                "--workspace", ws, "--as", ADMIN_EMAIL, "--password-stdin",
                stdin=f"{ADMIN_PASSWORD}\n{USER_PASSWORD}\n")
    assert r.code == 0, r.err


def owned(ws: Path) -> dict[object, tuple[object, ...]]:
    """Title -> owner's email, close date, probability, as stored."""
    return {t: rest for t, *rest in sql(
        ws, "SELECT d.title, u.email, d.expected_close_date, d.probability FROM deals d "
            "JOIN users u ON u.id = d.owner_id")}


def listed(ws: Path) -> dict[str, dict[str, object]]:
    r = as_admin(ws, "deals", "list", "--json")
    return {d["title"]: d for d in map(json.loads, r.out.splitlines())}


def test_hubspot_export_dry_run_then_import(cli_ws: Path, tmp_path: Path) -> None:
    add_bob(cli_ws)
    f = tmp_path / "hubspot-deals.csv"
    f.write_bytes(HUBSPOT_CSV)
    before = counts(cli_ws)
    args = ["deals", "import", f, "--preset", "hubspot", "--map", "Patient MRN=phi_mrn",
            "--map", "Deal Description=note", *stages(HUBSPOT_STAGES)]
    r = as_admin(cli_ws, *args, "--dry-run")
    assert r.code == 0, r.err
    assert "Mapping (HubSpot preset):" in r.out and "Deal Name -> title" in r.out
    assert "appointmentscheduled -> ACTIVE (1 row)" in r.out
    assert "4 deals ready to import (dry run: nothing was written)." in r.out
    assert counts(cli_ws) == before
    r = as_admin(cli_ws, *args)
    assert r.code == 0 and "Imported 4 deals." in r.out, r.err
    deals = listed(cli_ws)
    assert {t: (d["status"], d["value"], d["has_phi"]) for t, d in deals.items()} == {
        "CT scanner lease – Harbor Heart": ("ACTIVE", "12500.00", True),
        "Ultrasound carts": ("CLOSED_WON", "12500.00", False),
        "PACS upgrade": ("CLOSED_LOST", "12500.00", False),
        "Infusion pumps (pilot)": ("DRAFT", "900.50", False)}
    assert owned(cli_ws) == {
        "CT scanner lease – Harbor Heart": [USER_EMAIL, "2026-03-31", 40],
        "Ultrasound carts": [ADMIN_EMAIL, "2026-03-31", 100],
        "PACS upgrade": [ADMIN_EMAIL, "2026-04-15", 0],
        "Infusion pumps (pilot)": [ADMIN_EMAIL, None, None]}
    r = as_admin(cli_ws, "deals", "activity", "list", deals["PACS upgrade"]["id"])
    assert "Lost to a competitor, on price" in r.out, r.out + r.err
    assert "MRN-4471" not in r.out


def test_pipedrive_export_and_the_remembered_mapping(cli_ws: Path, tmp_path: Path) -> None:
    add_bob(cli_ws)
    f = tmp_path / "pipedrive.csv"
    f.write_bytes(PIPEDRIVE_CSV)
    r = as_admin(cli_ws, "deals", "import", f, "--preset", "auto", *stages(PIPEDRIVE_STAGES))
    assert r.code == 0 and "Imported 4 deals." in r.out, r.err
    assert "Mapping (Pipedrive preset):" in r.out
    assert {t: d["status"] for t, d in listed(cli_ws).items()} == {
        "MRI service contract": "ACTIVE", "Sterilizer refurbishment": "CLOSED_WON",
        "Lab analyzers": "CLOSED_LOST", "Telemetry monitors": "DRAFT"}
    assert owned(cli_ws)["Telemetry monitors"] == [USER_EMAIL, None, 25]
    # The next file of the same layout needs no --map and no --stage.
    g = tmp_path / "pipedrive-march.csv"
    g.write_bytes(PIPEDRIVE_CSV.replace(b"MRI service contract", b"MRI coils"))
    r = as_admin(cli_ws, "deals", "import", g, "--dry-run")
    assert r.code == 0, r.err
    assert "Mapping (remembered for this layout):" in r.out
    assert "open / Lead In -> DRAFT (1 row)" in r.out
    assert "4 deals ready" in r.out


def test_problems_are_listed_by_line_and_nothing_is_written(cli_ws: Path,
                                                             tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(b"Deal Name,Deal Stage,Amount,Deal owner\r\nA,closedwon,1,\r\n"
                  b"B,pilotstage,x,nobody@acme-health.example\r\nC,pilotstage,2,\r\n"
                  b"D,closedwon,2,nobody@acme-health.example\r\n")
    before = counts(cli_ws)
    for extra in ([], ["--dry-run"]):
        r = as_admin(cli_ws, "deals", "import", f, "--preset", "auto", *extra)
        assert r.code == 1
        assert "bad.csv has problems; nothing was imported:" in r.err
        assert "Lines 3, 4: Stage 'pilotstage' is not mapped" in r.err
        assert 'Map stage values with --stage "VALUE=STATUS"' in r.err
        assert "Line 3: Amount must be an amount" in r.err
        assert "Lines 3, 5: Owner 'nobody@acme-health.example' is not an active user" in r.err
        assert "Traceback" not in r.err
        assert counts(cli_ws) == before


def test_bad_files_and_options_get_one_clear_line(cli_ws: Path, tmp_path: Path) -> None:
    cases = [(b"", [], "The CSV file is empty"),
             ("Deal Name,Amount\r\nCafé,1\r\n".encode("cp1252"), [], "not UTF-8 text"),
             (b"Deal Name,Deal Stage,Amount\r\nA,closedwon,1\r\n", ["--map", "Nope=title"],
              "does not have"),
             (b"Deal Name,Deal Stage,Amount\r\nA,closedwon,1\r\n", ["--stage", "x=LATER"],
              "Status must be one of")]
    before = counts(cli_ws)
    for content, extra, fragment in cases:
        f = tmp_path / "in.csv"
        f.write_bytes(content)
        r = as_admin(cli_ws, "deals", "import", f, "--dry-run", *extra)
        assert r.code == 1 and fragment in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1
    assert counts(cli_ws) == before
