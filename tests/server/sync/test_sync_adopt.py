"""Connecting an existing standalone workspace: the organisation is created on the server
from it, keeping its tenant, user and deal ids (the PHI envelopes bind them), its users
and roles, its deals (deleted ones too, owners kept) and its audit rows (exactly once).
Real workspaces (SQLCipher, keyring) against the real server and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from adopt_support import OTHER_PASSWORD, REP_PASSWORD, issue, standalone
from api_support import Api
from laptop_support import PASSWORD, Laptop, connect_laptop, same_everywhere, server_rows
from pg_support import ServerDb
from support import run_cli, sql

from closeplan_desktop.core.domain.errors import PermissionDenied, ServerRefused, SyncError
from closeplan_desktop.core.security.passwords import check_password
from closeplan_desktop.core.store import db, workspace
from closeplan_desktop.core.store.workspace import Workspace
from closeplan_desktop.core.sync import adopt, engine
from closeplan_desktop.core.usecases import auth, deals, users
from closeplan_desktop.server import cli as server_cli
from closeplan_desktop.server.api.routes.adopt import code_hash
from closeplan_desktop.server.tenants import create_tenant


def rows(ws: Workspace, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with db.read_session(ws.engine) as s:
        return [tuple(r) for r in s.connection().exec_driver_sql(query, params).fetchall()]


def tenant_count(server_db: ServerDb) -> int:
    with server_db.superuser() as conn:
        row = conn.execute("SELECT count(*) FROM tenants").fetchone()
    assert row is not None
    return int(row[0])


def audit_counts(server_db: ServerDb, tenant_id: str, device_id: str) -> dict[str, int]:
    out = {}
    for table in ("access_logs", "security_events"):
        ((total, distinct),) = server_rows(
            server_db, tenant_id, f"SELECT count(*), count(DISTINCT seq) FROM {table} "
            "WHERE tenant_id = %s AND device_id = %s", (device_id,))
        assert total == distinct  # every row once
        out[table] = int(total)
    return out


def local_audit(ws: Workspace) -> dict[str, int]:
    return {t: int(rows(ws, f"SELECT count(*) FROM {t} WHERE device_id = ?",
                        (ws.device_id,))[0][0]) for t in ("access_logs", "security_events")}


def test_a_workspace_becomes_the_organisation_and_a_second_laptop_reads_its_phi(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = standalone(tmp_path / "a")
    issue(server_db, "1111-2222-3333-4444")
    ws, transport, done = adopt.connect_workspace(tmp_path / "a", live.live.url, made["admin"],
                                                  PASSWORD, "1111-2222-3333-4444", name="a")
    a = Laptop(ws, transport, made["admin"], PASSWORD)
    b: Laptop | None = None
    try:
        assert done.created and done.tenant_id == made["tenant_id"] and done.deals == 4
        assert done.users_to_reset == ()  # the rep's hash went up from the outbox
        # The same ids, owners, tombstones and envelopes on both sides.
        same_everywhere(server_db, made["tenant_id"], a)
        owners = server_rows(server_db, made["tenant_id"], "SELECT id, created_by_id FROM "
                             "deals WHERE tenant_id = %s ORDER BY id")
        assert owners == rows(ws, "SELECT id, created_by_id FROM deals ORDER BY id")
        assert server_rows(server_db, made["tenant_id"], "SELECT deleted_at IS NOT NULL "
                           "FROM deals WHERE tenant_id = %s AND id = %s",
                           (made["a2"],)) == [(True,)]
        assert server_rows(server_db, made["tenant_id"], "SELECT role::text, deactivated_at "
                           "IS NOT NULL FROM users WHERE tenant_id = %s AND id = %s",
                           (made["old_id"],)) == [("USER", True)]
        assert server_rows(server_db, made["tenant_id"], "SELECT adopting FROM tenants "
                           "WHERE id = %s") == [(False,)]
        # The rep signs in online with the password they had; the audit is there once.
        assert live.sign_in(made["rep"], REP_PASSWORD)["user_id"] == made["rep_id"]
        mine = local_audit(ws)
        assert audit_counts(server_db, made["tenant_id"], ws.device_id) == mine
        assert mine["access_logs"] >= 6 and done.audit_rows == sum(mine.values())
        # Connected: nothing left to push, and a sync sends no audit row twice.
        assert engine.pending_count(ws) == 0
        assert rows(ws, "SELECT status, bootstrapped FROM sync_connection") == [
            ("connected", 1)]
        result = a.sync()
        assert result.pushed == 0
        assert audit_counts(server_db, made["tenant_id"], ws.device_id) == local_audit(ws)
        # A second laptop of the tenant sees the same deals and reveals the PHI.
        b = connect_laptop(live, tmp_path / "b", made["admin"], approver=a)
        same_everywhere(server_db, made["tenant_id"], a, b)
        admin_b = b.session()
        assert deals.reveal_phi(admin_b, made["r1"]) == {"mrn": "R-7"}
        assert deals.reveal_phi(admin_b, made["a1"])["notes"] == {"allergy": ["latex"]}
        # Edits flow both ways afterwards.
        deals.update_deal(a.session(), made["a1"], title="Northwind renewal 2027")
        a.sync()
        b.sync()
        assert b.rows("SELECT title FROM deals WHERE id = ?", (made["a1"],)) == [
            ("Northwind renewal 2027",)]
    finally:
        a.close()
        if b is not None:
            b.close()


def test_refusals_write_nothing_and_leave_the_workspace_standalone(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = standalone(tmp_path / "w", domain="refused.example")
    admin, rep = made["admin"], made["rep"]
    path = tmp_path / "w"
    before = tenant_count(server_db)

    def attempt(email: str, password: str, code: str) -> None:
        found, transport, _ = adopt.connect_workspace(path, live.live.url, email, password,
                                                      code)
        transport.close()
        found.close()
        raise AssertionError("connected")

    def unchanged() -> None:
        assert tenant_count(server_db) == before
        with workspace.open_workspace(path) as ws:
            assert engine.connection(ws) is None
            assert engine.pending_count(ws) > 0  # nothing marked as sent

    # A wrong code: 401, nothing created.
    with pytest.raises(ServerRefused) as wrong:
        attempt(admin, PASSWORD, "0000-0000-0000-0000")
    assert wrong.value.status == 401 and wrong.value.code == "wrong_code"
    unchanged()
    # Not an admin of the workspace: refused here, before the server is asked.
    issue(server_db, "5555-6666-7777-8888")
    with pytest.raises(PermissionDenied, match="administrator"):
        attempt(rep, REP_PASSWORD, "5555-6666-7777-8888")
    unchanged()
    # A user's email already belongs to another tenant: 409, nothing created, and the
    # code still works once that is fixed.
    create_tenant(server_db.pool(max_size=1), "Elsewhere", "elsewhere.example", rep, "Rex",
                  "Elsewhere", OTHER_PASSWORD)
    after_other = tenant_count(server_db)
    with pytest.raises(ServerRefused) as taken:
        attempt(admin, PASSWORD, "5555-6666-7777-8888")
    assert taken.value.status == 409 and taken.value.code == "email_taken"
    assert tenant_count(server_db) == after_other
    with server_db.superuser() as conn:  # the refused creation gave its code back
        assert conn.execute("SELECT used_at IS NULL FROM setup_codes WHERE code_hash = %s",
                            (code_hash("5555-6666-7777-8888"),)).fetchall() == [(True,)]
    with workspace.open_workspace(path) as ws:
        assert engine.connection(ws) is None
    # The admin's own email in another organisation: refused (joining one is not built).
    create_tenant(server_db.pool(max_size=1), "Elsewhere Two", "two.example", admin,
                  "Ada", "Elsewhere", PASSWORD)
    with pytest.raises(SyncError, match="another organisation"):
        attempt(admin, PASSWORD, "5555-6666-7777-8888")
    assert tenant_count(server_db) == after_other + 1


def test_a_broken_connect_is_resumed_and_the_audit_arrives_once(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    made = standalone(tmp_path / "r", domain="resume.example")
    issue(server_db, "9999-8888-7777-6666")

    class Cut(Exception):
        pass

    def cut(done: int, total: int | None) -> None:
        raise Cut

    progress: Callable[[int, int | None], None] = cut
    with pytest.raises(Cut):
        adopt.connect_workspace(tmp_path / "r", live.live.url, made["admin"], PASSWORD,
                                "9999-8888-7777-6666", progress=progress)
    with workspace.open_workspace(tmp_path / "r") as ws:
        assert engine.connection(ws) is None  # still standalone, nothing lost
    assert server_rows(server_db, made["tenant_id"], "SELECT adopting FROM tenants "
                       "WHERE id = %s") == [(True,)]
    # Again (the code is used: the server's tenant is found by signing in).
    ws, transport, done = adopt.connect_workspace(tmp_path / "r", live.live.url, made["admin"],
                                                  PASSWORD, "used-already")
    a = Laptop(ws, transport, made["admin"], PASSWORD)
    try:
        assert not done.created and done.deals == 4
        same_everywhere(server_db, made["tenant_id"], a)
        assert audit_counts(server_db, made["tenant_id"], ws.device_id) == local_audit(ws)
        # The import is closed for good once finished.
        with pytest.raises(ServerRefused) as closed:
            transport.call("POST", "/v1/adopt/deals", json={"deals": [{"id": made["a1"]}]})
        assert closed.value.code == "adoption_closed"
    finally:
        a.close()


def test_the_command_line_connects_a_standalone_workspace_with_an_operators_code(
        live: Api, server_db: ServerDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    made = standalone(tmp_path / "c", domain="cli-adopt.example")
    monkeypatch.setenv("CLOSEPLAN_SERVER_DSN", server_db.app_dsn)
    assert server_cli.main(["setup-code", "--hours", "2"]) == 0
    issued = re.search(r"Setup code: ([0-9-]+)", capsys.readouterr().out)
    assert issued is not None
    code = issued.group(1)
    r = run_cli("connect", live.live.url, "--email", made["admin"], "--workspace",
                tmp_path / "c", "--password-stdin", stdin=f"{PASSWORD}\n{code}\n")
    assert r.code == 0, r.err
    assert "Created the organisation" in r.out and "4 deals" in r.out
    assert code not in r.out + r.err and PASSWORD not in r.out + r.err
    assert sql(tmp_path / "c", "SELECT status FROM sync_connection") == [("connected",)]
    r = run_cli("sync", "--workspace", tmp_path / "c")
    assert r.code == 0 and "Pushed 0" in r.out, r.err
    # The code worked once: another workspace is refused with the server's words.
    standalone(tmp_path / "d", domain="cli-again.example")
    r = run_cli("connect", live.live.url, "--email", "ada@cli-again.example", "--workspace",
                tmp_path / "d", "--password-stdin", stdin=f"{PASSWORD}\n{code}\n")
    assert r.code == 1 and "setup code is wrong, used or expired" in r.err
    assert "Traceback" not in r.err
    assert sql(tmp_path / "d", "SELECT count(*) FROM sync_connection") == [(0,)]


def test_a_connect_broken_after_the_server_closed_the_import_is_finished_without_loss(
        live: Api, server_db: ServerDb, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = standalone(tmp_path / "k", domain="closed.example")
    issue(server_db, "1357-2468-1357-2468")

    class Crash(Exception):
        pass

    def crash(*_a: object, **_k: object) -> None:
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(adopt, "_connect_here", crash)  # the laptop dies before its commit
        with pytest.raises(Crash):
            adopt.connect_workspace(tmp_path / "k", live.live.url, made["admin"], PASSWORD,
                                    "1357-2468-1357-2468")
    assert server_rows(server_db, made["tenant_id"], "SELECT adopting FROM tenants "
                       "WHERE id = %s") == [(False,)]
    # Work goes on offline in between: a new deal and an edit.
    with workspace.open_workspace(tmp_path / "k") as ws:
        assert engine.connection(ws) is None
        admin = auth.sign_in(ws, made["admin"], PASSWORD)
        late = deals.create_deal(admin, "Made in between", "DRAFT", "7")
        deals.update_deal(admin, made["a1"], title="Edited in between")
    ws, transport, done = adopt.connect_workspace(tmp_path / "k", live.live.url,
                                                  made["admin"], PASSWORD, "any")
    a = Laptop(ws, transport, made["admin"], PASSWORD)
    try:
        assert not done.created
        assert engine.pending_count(ws) == 2  # the two changes made after the upload
        result = a.sync()
        assert result.verdicts in ({"applied": 2}, {"applied": 1, "merged": 1})
        same_everywhere(server_db, made["tenant_id"], a)
        assert a.rows("SELECT title, deleted_at IS NULL FROM deals WHERE id IN (?, ?) "
                      "ORDER BY title", (late.id, made["a1"])) == [
            ("Edited in between", 1), ("Made in between", 1)]
    finally:
        a.close()


def test_the_server_gets_each_users_newest_password_hash(tmp_path: Path) -> None:
    made = standalone(tmp_path / "h", domain="hashes.example")
    new_password = "Copper-Meadow-Lantern-64"
    with workspace.open_workspace(tmp_path / "h") as ws:
        admin = auth.sign_in(ws, made["admin"], PASSWORD)
        users.reset_password(admin, made["rep_id"], new_password)
        with db.read_session(ws.engine) as s:
            sent = {u["id"]: u["password_hash"] for u in adopt.snapshot(s, admin.user_id)
                    ["users"]}
    assert check_password(new_password, sent[made["rep_id"]])
    assert not check_password(REP_PASSWORD, sent[made["rep_id"]])
    assert check_password(OTHER_PASSWORD, sent[made["old_id"]])
