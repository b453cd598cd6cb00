"""closeplan-admin connect, sync and devices against the real server on 127.0.0.1, as a
user runs them (passwords on stdin, never in argv)."""

from __future__ import annotations

import re
from pathlib import Path

from api_support import Api
from laptop_support import PASSWORD, new_tenant
from pg_support import ServerDb
from support import run_cli, sql

REP_PASSWORD = "Saffron-Glacier-Pony-31"


def test_connect_approve_sync_and_revoke_from_the_command_line(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Cli Health", "ada@cli-health.example")
    a, b = tmp_path / "a", tmp_path / "b"
    r = run_cli("connect", live.live.url, "--email", "ada@cli-health.example",
                "--workspace", a, "--password-stdin", stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    assert "first device" in r.out and "Connected to" in r.out
    assert PASSWORD not in r.out + r.err
    # A rep added on the admin's laptop, pushed by `sync`.
    r = run_cli("user", "add", "sam@cli-health.example", "--first-name", "Sam",
                "--last-name", "Sales", "--workspace", a, "--as", "ada@cli-health.example",
                "--password-stdin", stdin=f"{PASSWORD}\n{REP_PASSWORD}\n")
    assert r.code == 0, r.err
    r = run_cli("sync", "--workspace", a)
    assert r.code == 0, r.err
    assert "Pushed 1, pulled" in r.out and "rejections 0" in r.out

    # The rep's laptop enrols and waits; the admin approves it with the code shown.
    r = run_cli("connect", live.live.url, "--email", "sam@cli-health.example",
                "--workspace", b, "--password-stdin", "--wait", "0",
                stdin=REP_PASSWORD + "\n")
    assert r.code == 1 and "not approved yet" in r.err
    code = re.search(r"Approval code: (\d{6})", r.out)
    assert code is not None
    r = run_cli("devices", "list", "--workspace", a, "--status", "PENDING")
    assert r.code == 0 and "PENDING" in r.out and "(this one)" not in r.out
    admin = ("--workspace", a, "--as", "ada@cli-health.example", "--password-stdin")
    r = run_cli("devices", "approve", "000000" if code.group(1) != "000000" else "111111",
                *admin, stdin=PASSWORD + "\n")
    assert r.code == 1 and "not the code" in r.err  # a wrong code: the server's words
    r = run_cli("devices", "approve", code.group(1), *admin, stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    r = run_cli("sync", "--workspace", b)
    assert r.code == 0, r.err
    assert "approved and connected" in r.out
    assert sql(b, "SELECT email FROM users ORDER BY email") == [
        ("ada@cli-health.example",), ("sam@cli-health.example",)]

    # Revoked: the rep's next sync is refused with the server's words.
    device_b = sql(b, "SELECT device_id FROM sync_connection")[0][0]
    r = run_cli("devices", "revoke", str(device_b), "--workspace", a)
    assert r.code == 0, r.err
    r = run_cli("sync", "--workspace", b)
    assert r.code == 1 and "revoked" in r.err
    assert "Traceback" not in r.err


def test_connect_refuses_plain_http_to_another_machine(tmp_path: Path) -> None:
    r = run_cli("connect", "http://closeplan.example.org", "--email", "ada@example.org",
                "--workspace", tmp_path / "w", "--password-stdin", stdin="whatever\n")
    assert r.code == 1 and "https" in r.err
    assert not (tmp_path / "w").exists()


def test_sync_of_a_standalone_workspace_says_to_connect(cli_ws: Path) -> None:
    r = run_cli("sync", "--workspace", cli_ws)
    assert r.code == 1 and "not connected" in r.err and "connect" in r.err


def test_connect_again_signs_an_ended_session_in_and_restarts_a_waiting_enrolment(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    from closeplan_desktop.core.security.keyring_store import KeyringStore
    from closeplan_desktop.core.store import layout
    from closeplan_desktop.core.sync.transport import REFRESH_SLOT

    new_tenant(server_db, "Again Health", "ada@again.example")
    a, b = tmp_path / "a", tmp_path / "b"
    r = run_cli("connect", live.live.url, "--email", "ada@again.example", "--workspace", a,
                "--password-stdin", stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    # The device's session ends (30 days unused): the refresh token is gone.
    KeyringStore(layout.read_meta(a)["workspace_id"]).delete(REFRESH_SLOT)
    r = run_cli("sync", "--workspace", a)
    assert r.code == 1 and "sign in online" in r.err.lower()
    r = run_cli("connect", live.live.url, "--email", "ada@again.example", "--workspace", a,
                "--password-stdin", stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    assert "Signed in to the server again" in r.out
    assert run_cli("sync", "--workspace", a).code == 0

    # A second device of Ada's waits; connecting it again gives a new code.
    admin = ("--workspace", a, "--as", "ada@again.example", "--password-stdin")
    r = run_cli("connect", live.live.url, "--email", "ada@again.example", "--workspace", b,
                "--password-stdin", "--wait", "0", stdin=PASSWORD + "\n")
    first = re.search(r"Approval code: (\d{6})", r.out)
    r = run_cli("connect", live.live.url, "--email", "ada@again.example", "--workspace", b,
                "--password-stdin", "--wait", "0", stdin=PASSWORD + "\n")
    second = re.search(r"Approval code: (\d{6})", r.out)
    assert r.code == 1 and first is not None and second is not None
    if first.group(1) != second.group(1):  # the old code no longer approves
        r = run_cli("devices", "approve", first.group(1), *admin, stdin=PASSWORD + "\n")
        assert r.code == 1 and "not the code" in r.err
    r = run_cli("devices", "approve", second.group(1), *admin, stdin=PASSWORD + "\n")
    assert r.code == 0, r.err
    r = run_cli("sync", "--workspace", b)
    assert r.code == 0 and "approved and connected" in r.out, r.err


def test_a_wrong_password_at_connect_is_one_line_and_leaves_no_workspace(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    new_tenant(server_db, "Wrong Pw", "ada@wrong-pw.example")
    r = run_cli("connect", live.live.url, "--email", "ada@wrong-pw.example", "--workspace",
                tmp_path / "w", "--password-stdin", stdin="not-the-password-at-all\n")
    assert r.code == 1 and r.err.count("\n") == 1 and "password" in r.err.lower()
    assert "not-the-password" not in r.err + r.out and "Traceback" not in r.err
    assert not (tmp_path / "w").exists()
