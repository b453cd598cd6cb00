"""The encrypted workspace: its file, its keys and each way opening it can fail."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PREVIOUS_RELEASE,
    ROOT,
    Env,
    as_previous_revision,
    held_phi_keys,
    keep_discarded_backups,
    make_previous_release,
    run_cli,
    sql,
)

from closeplan_desktop.core.domain.errors import (
    KeyMismatch,
    KeyMissing,
    NewerWorkspace,
    NotAWorkspace,
    WorkspaceBusy,
    WorkspaceError,
)
from closeplan_desktop.core.security import crypto
from closeplan_desktop.core.security.keyring_store import AUDIT_SLOT, DB_SLOT, KeyringStore
from closeplan_desktop.core.store import layout, workspace

SEED_COLUMNS = {
    "users": {"id", "email", "first_name", "last_name", "password", "tenant_id", "role",
              "created_at", "updated_at"},
    "tenants": {"id", "name", "domain", "created_at", "updated_at"},
    "deals": {"id", "title", "status", "value", "phi", "tenant_id", "created_by_id",
              "created_at", "updated_at"},
    "access_logs": {"id", "user_id", "deal_id", "action", "access_type", "resource_type",
                    "success", "timestamp"},
}
SEED_INDEXES = {"users_email_idx", "users_tenant_id_idx", "tenants_domain_idx",
                "deals_tenant_id_idx", "deals_created_by_id_idx", "access_logs_user_id_idx",
                "access_logs_deal_id_idx", "access_logs_timestamp_idx"}


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.name != ".lock":
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_stdlib_sqlite_cannot_read_but_sqlcipher_with_keyring_key_can(env: Env) -> None:
    env.ws.close()
    db_file = env.path / layout.DB_FILE
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        sqlite3.connect(db_file).execute("SELECT * FROM sqlite_master").fetchall()
    tables = {r[0] for r in sql(env.path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(SEED_COLUMNS) <= tables
    for table, cols in SEED_COLUMNS.items():
        have = {r[1] for r in sql(env.path, f"PRAGMA table_info({table})")}
        assert cols <= have, (table, cols - have)
    indexes = {r[0] for r in sql(env.path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert SEED_INDEXES <= indexes
    uniq = sql(env.path, "SELECT sql FROM sqlite_master WHERE name='users'")[0][0]
    assert "UNIQUE (email)" in uniq


def test_enum_values_are_enforced_by_the_database(env: Env) -> None:
    env.ws.close()
    with pytest.raises(Exception, match="CHECK constraint failed"):
        sql(env.path, "UPDATE users SET role='ROOT'")


def test_logs_are_append_only_in_the_database(env: Env) -> None:
    from closeplan_desktop.core.usecases import deals

    deals.create_deal(env.admin, "Append-only test", "DRAFT", "1.00")
    env.ws.close()
    for stmt in ("UPDATE access_logs SET success=1", "DELETE FROM access_logs",
                 "UPDATE security_events SET type='X'", "DELETE FROM security_events"):
        with pytest.raises(Exception, match="append-only"):
            sql(env.path, stmt)


def test_reopen_keeps_data(env: Env) -> None:
    from closeplan_desktop.core.usecases import auth, deals

    d = deals.create_deal(env.admin, "Reopen test", "DRAFT", "1.00")
    env.ws.close()
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.get_deal(s, d.id).title == "Reopen test"


def test_second_process_gets_already_open(env: Env) -> None:
    code = textwrap.dedent(f"""
        from pathlib import Path
        from closeplan_desktop.core.store import workspace
        from closeplan_desktop.core.domain.errors import WorkspaceBusy
        try:
            workspace.open_workspace(Path({str(env.path)!r}))
        except WorkspaceBusy as exc:
            print("BUSY:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "BUSY:" in out.stdout and "already open" in out.stdout, out.stderr


def test_same_process_second_open_is_busy_too(env: Env) -> None:
    with pytest.raises(WorkspaceBusy):
        workspace.open_workspace(env.path)


def test_newer_schema_is_refused_and_left_unchanged(env: Env) -> None:
    env.ws.close()
    sql(env.path, "UPDATE alembic_version SET version_num='9999'")
    before = digest(env.path)
    with pytest.raises(NewerWorkspace, match="newer ClosePlan Desktop"):
        workspace.open_workspace(env.path)
    assert digest(env.path) == before


def test_not_a_workspace_cases(tmp_path: Path) -> None:
    with pytest.raises(NotAWorkspace, match="no workspace"):
        workspace.open_workspace(tmp_path / "nothing-here")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotAWorkspace, match="not a ClosePlan workspace"):
        workspace.open_workspace(empty)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "workspace.json").write_text(
        '{"format": "closeplan-workspace", "format_version": 1, "workspace_id": "cx"}')
    sqlite3.connect(plain / layout.DB_FILE).execute("CREATE TABLE t(x)").connection.commit()
    with pytest.raises(NotAWorkspace, match="unencrypted SQLite"):
        workspace.open_workspace(plain)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "workspace.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(NotAWorkspace, match="damaged"):
        workspace.open_workspace(garbage)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotAWorkspace, match="is a file"):
        workspace.open_workspace(afile)


def test_create_refuses_existing_workspace_and_non_empty_folders(env: Env, tmp_path: Path) -> None:
    env.ws.close()
    before = digest(env.path)
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        workspace.create(env.path)
    assert digest(env.path) == before
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="not empty"):
        workspace.create(busy)


def test_missing_key_is_reported_and_no_new_key_is_made(env: Env) -> None:
    env.ws.close()
    keys = KeyringStore(env.ws.workspace_id)
    saved = keys.require(DB_SLOT, "db")
    keys.delete(DB_SLOT)
    before = digest(env.path)
    with pytest.raises(KeyMissing, match="import-kit"):
        workspace.open_workspace(env.path)
    assert KeyringStore(env.ws.workspace_id).get(DB_SLOT) is None  # nothing was created
    assert digest(env.path) == before
    keys.replace(DB_SLOT, saved)
    workspace.open_workspace(env.path).close()


def test_wrong_key_is_reported_and_not_replaced(env: Env) -> None:
    env.ws.close()
    keys = KeyringStore(env.ws.workspace_id)
    saved = keys.require(DB_SLOT, "db")
    wrong = crypto.new_key()
    keys.replace(DB_SLOT, wrong)
    before = digest(env.path)
    with pytest.raises(KeyMismatch, match="different key"):
        workspace.open_workspace(env.path)
    assert KeyringStore(env.ws.workspace_id).get(DB_SLOT) == wrong
    assert digest(env.path) == before
    keys.replace(DB_SLOT, saved)


def test_missing_audit_key_is_reported(env: Env) -> None:
    env.ws.close()
    keys = KeyringStore(env.ws.workspace_id)
    saved = keys.require(AUDIT_SLOT, "audit")
    keys.delete(AUDIT_SLOT)
    with pytest.raises(KeyMissing, match="audit key"):
        workspace.open_workspace(env.path)
    keys.replace(AUDIT_SLOT, saved)


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def test_no_keyring_backend_gives_its_own_message(cli_ws: Path) -> None:
    env = _child_env()
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    out = subprocess.run([sys.executable, "-m", "closeplan_desktop.cli", "deals", "list",
                          "--workspace", str(cli_ws), "--as", ADMIN_EMAIL, "--password-stdin"],
                         input=ADMIN_PASSWORD + "\n", capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 1
    assert "No usable OS keyring" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


LOCKED_SCRIPT = r"""
import secretstorage, tempfile
from pathlib import Path
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.domain.errors import KeyringLocked
path = Path(tempfile.mkdtemp()) / "ws"
workspace.create(path).close()
conn = secretstorage.dbus_init()
secretstorage.get_default_collection(conn).lock()
try:
    workspace.open_workspace(path)
    print("OPENED")
except KeyringLocked as exc:
    print("LOCKED:", exc)
"""


def test_locked_keyring_gives_its_own_message() -> None:
    # Its own D-Bus session and keyring: a locked keyring cannot be unlocked headless.
    out = subprocess.run(["dbus-run-session", "--", "packaging/with-keyring.sh", sys.executable,
                          "-c", LOCKED_SCRIPT], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert "LOCKED: The OS keyring is locked" in out.stdout, out.stdout + out.stderr


def test_backup_copy_is_encrypted_and_opens_with_the_key(env: Env) -> None:
    target = workspace.backup_database(env.ws.engine, env.path, "test")
    from closeplan_desktop.core.store import db

    assert not layout.is_plain_sqlite(target)
    assert db.key_opens(target, env.ws.keyring.require(DB_SLOT, "db"))


def test_alembic_head_matches_known_revisions_and_models() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from closeplan_desktop.core.store.workspace import KNOWN_REVISIONS, SCHEMA_HEAD

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(workspace.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_current_head() == SCHEMA_HEAD
    assert [r.revision for r in script.walk_revisions()][::-1] == list(KNOWN_REVISIONS)


def test_migrated_schema_matches_the_models(env: Env) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from closeplan_desktop.core.store.models import Base

    with env.ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    diff = [d for d in diff if "deals_fts" not in str(d)]
    assert diff == []


def test_cli_reports_missing_workspace_with_exit_1(tmp_path: Path) -> None:
    r = run_cli("deals", "list", "--workspace", tmp_path / "none", "--as", ADMIN_EMAIL,
                "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert r.code == 1
    assert "no workspace" in r.err and "init" in r.err


@pytest.mark.parametrize("previous", [PREVIOUS_RELEASE, "0005_keys"])
def test_older_cache_is_backed_up_then_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                previous: str) -> None:
    """A workspace at an older schema revision (the last release's, or key slots without
    sync) opens: backup first, then upgrade, with every row, the PHI and the audit chain
    intact. The backup is removed once the upgrade checks out (issue 13, finding 1): a
    copy is kept aside here to check it."""
    from closeplan_desktop.core.store import db
    from closeplan_desktop.core.store.workspace import SCHEMA_HEAD
    from closeplan_desktop.core.usecases import audit, auth, deals, users

    path = tmp_path / "old"
    # Build the workspace as the previous release would have left it.
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Old Co", None, ADMIN_EMAIL, "Ada", "Admin", ADMIN_PASSWORD)
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        d = deals.create_deal(s, "Legacy deal", "ACTIVE", "12345678901.23",
                              {"mrn": "OLD-1"})
        phi_keys = held_phi_keys(ws)
    if previous == PREVIOUS_RELEASE:
        make_previous_release(path, phi_keys, {ADMIN_EMAIL: ADMIN_PASSWORD})
    else:
        as_previous_revision(path)
    assert sql(path, "SELECT version_num FROM alembic_version") == [(previous,)]
    rows_before = sql(path, "SELECT * FROM deals")
    assert not (path / "backups").exists()
    kept = keep_discarded_backups(tmp_path, monkeypatch)
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(s, d.id) == {"mrn": "OLD-1"}
        assert deals.get_deal(s, d.id).value == Decimal("12345678901.23")
        assert audit.verify(s).ok
        key = ws.keyring.require(DB_SLOT, "db")
    # Every column kept; the upgrade's own (owner = creator, no close date or
    # probability) come last.
    after = sql(path, "SELECT * FROM deals")
    assert [r[:len(rows_before[0])] for r in after] == rows_before
    assert [r[len(rows_before[0]):] for r in after] == [(s.user_id, None, None)]
    assert not (path / "backups").exists()
    backups = list(kept.glob(f"*before-{SCHEMA_HEAD}-from-{previous}.db"))
    assert len(backups) == 1 and db.key_opens(backups[0], key)
    indexes = {r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert "deals_live_title_idx" in indexes


def test_a_workspace_opened_on_one_thread_is_released_on_another(env: Env) -> None:
    """The window opens the workspace on a worker thread and closes it on the UI thread."""
    import threading

    env.ws.close()
    opened: list[workspace.Workspace] = []
    worker = threading.Thread(target=lambda: opened.append(workspace.open_workspace(env.path)))
    worker.start()
    worker.join()
    opened[0].close()
    workspace.open_workspace(env.path).close()  # not "already open"
