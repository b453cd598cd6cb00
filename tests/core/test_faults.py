"""Full disk, read-only storage and keyring faults: a clear message, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import event
from support import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, Env, run_cli, sql

from closeplan_desktop.core.domain.errors import StorageError
from closeplan_desktop.core.security.keyring_store import DB_SLOT, KeyringStore
from closeplan_desktop.core.store import audit_log, workspace
from closeplan_desktop.core.tools import demo
from closeplan_desktop.core.usecases import auth, deal_import, deal_list, deals, key_admin


def _limit_pages(env: Env, extra_pages: int) -> None:
    """Simulate a disk that fills up: cap the file a few pages above its size."""
    env.ws.engine.dispose()
    pages = sql(env.path, "PRAGMA page_count")[0][0]

    @event.listens_for(env.ws.engine, "connect")
    def _cap(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")  # type: ignore[attr-defined]


def test_full_disk_gives_a_clear_message_and_loses_nothing(env: Env) -> None:
    kept = deals.create_deal(env.admin, "Committed before the disk filled", "ACTIVE", "5")
    env.ws.engine.dispose()
    sql(env.path, "PRAGMA wal_checkpoint(TRUNCATE)")
    before = sql(env.path, "SELECT count(*) FROM deals")[0][0]
    _limit_pages(env, 8)
    with pytest.raises(StorageError, match="disk is full"):
        deal_import.import_deals(env.admin, demo.demo_rows(3000))
    # The app keeps running read-only: lists, reveals of what is there, the audit.
    assert deals.get_deal(env.admin, kept.id).title == "Committed before the disk filled"
    assert deal_list.count_deals(env.admin) == before
    assert audit_log.verify_workspace(env.ws).ok
    env.ws.close()
    assert sql(env.path, "SELECT count(*) FROM deals")[0][0] == before
    assert sql(env.path, "PRAGMA integrity_check") == [("ok",)]


def test_read_only_storage_gives_a_clear_message(env: Env) -> None:
    d = deals.create_deal(env.admin, "Read-only test", "ACTIVE", "5")
    env.ws.engine.dispose()

    @event.listens_for(env.ws.engine, "connect")
    def _ro(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]

    with pytest.raises(StorageError, match="read-only"):
        deals.update_deal(env.admin, d.id, title="Changed")
    assert deals.get_deal(env.admin, d.id).title == "Read-only test"


def test_full_disk_through_the_cli_is_one_line(cli_ws: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "big.csv"
    lines = ["title,status,value,phi_notes"] + [
        f"Deal {i},ACTIVE,1.00,{'x' * 3000}" for i in range(2000)]
    csv_file.write_text("\r\n".join(lines))
    code = textwrap.dedent("""
        import sys
        from sqlalchemy import event
        from closeplan_desktop.core.store import db
        real = db.make_engine
        def capped(path, key):
            engine = real(path, key)
            @event.listens_for(engine, "connect")
            def cap(conn, rec):
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {pages + 20}")
            return engine
        db.make_engine = capped
        from closeplan_desktop.cli.main import main
        sys.exit(main(sys.argv[1:]))
    """)
    out = subprocess.run([sys.executable, "-c", code, "deals", "import", str(csv_file),
                          "--workspace", str(cli_ws), "--as", ADMIN_EMAIL, "--password-stdin"],
                         input=ADMIN_PASSWORD + "\n", capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("closeplan-admin")]
    assert len(errors) == 1 and "disk is full" in errors[0] and "Traceback" not in out.stderr
    assert sql(cli_ws, "SELECT count(*) FROM deals")[0][0] == 0


KEYRING_SWAP = r"""
import sys
from pathlib import Path
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.domain.errors import KeyMissing
try:
    workspace.open_workspace(Path(sys.argv[1]))
    print("OPENED")
except KeyMissing as exc:
    print("MISSING:", exc)
"""


def test_another_keyring_between_runs_is_key_missing_and_the_kit_restores(
        env: Env, tmp_path: Path) -> None:
    """The same workspace opened with a different keyring (a new login keyring, another
    machine): the key is missing, nothing is created, and the kit brings it back."""
    d = deals.create_deal(env.admin, "Survives a keyring change", "ACTIVE", "1", {"mrn": "K-9"})
    kit = tmp_path / "kit.json"
    key_admin.export_kit(env.admin, kit, "kit passphrase here")
    env.ws.close()
    root = ROOT
    out = subprocess.run(["dbus-run-session", "--", "packaging/with-keyring.sh",
                          sys.executable, "-c", KEYRING_SWAP, str(env.path)],
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert "MISSING:" in out.stdout and "import-kit" in out.stdout, out.stdout + out.stderr
    restore = KEYRING_SWAP.replace("try:", textwrap.dedent(f"""
        from closeplan_desktop.core.usecases import key_admin
        key_admin.import_kit(Path(sys.argv[1]), Path({str(kit)!r}).read_bytes(),
                        "kit passphrase here")
        try:"""))
    out = subprocess.run(["dbus-run-session", "--", "packaging/with-keyring.sh",
                          sys.executable, "-c", restore, str(env.path)],
                         capture_output=True, text=True, timeout=120, cwd=root)
    assert "OPENED" in out.stdout, out.stdout + out.stderr
    # And the original keyring still opens it too: nothing was re-keyed.
    with workspace.open_workspace(env.path) as ws:
        s = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert deals.reveal_phi(s, d.id) == {"mrn": "K-9"}


def test_deleted_key_never_leads_to_a_new_key(env: Env) -> None:
    env.ws.close()
    store = KeyringStore(env.ws.workspace_id)
    saved = store.require(DB_SLOT, "db")
    store.delete(DB_SLOT)
    for _ in range(3):
        r = run_cli("deals", "list", "--workspace", env.path, "--as", ADMIN_EMAIL,
                    "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
        assert r.code == 1 and "not in this keyring" in r.err
    assert KeyringStore(env.ws.workspace_id).get(DB_SLOT) is None
    store.replace(DB_SLOT, saved)
