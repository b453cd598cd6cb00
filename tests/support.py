"""Helpers the tests share: the test tenant's credentials, the `Env` the `env` fixture
yields, running closeplan-admin in-process, and reading a workspace behind the app's back.
Fixtures are in conftest.py; tests import these names from here."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import select

from closeplan_desktop.cli.main import main as cli_main
from closeplan_desktop.core.security import policy
from closeplan_desktop.core.security.keyring_store import (
    DB_SLOT,
    DEVICE_ID_SLOT,
    UNLOCK_SLOT,
    KeyringStore,
    phi_slot,
)
from closeplan_desktop.core.security.passwords import hash_password
from closeplan_desktop.core.store import db, layout, workspace
from closeplan_desktop.core.store.models import PhiKey
from closeplan_desktop.core.store.workspace import Workspace
from closeplan_desktop.core.usecases import users
from closeplan_desktop.core.usecases.frame import AuthSession

ROOT = Path(__file__).resolve().parent.parent  # the repository
ADMIN_EMAIL = "ada@acme-health.example"
ADMIN_PASSWORD = "correct horse battery"
USER_EMAIL = "bob@acme-health.example"
USER_PASSWORD = "another long password"


@dataclass
class Env:
    ws: Workspace
    path: Path
    tenant_id: str
    admin: AuthSession
    user: AuthSession


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: str = "") -> Result:
    """Run closeplan-admin in this process, as a user would from a shell."""
    out, err = io.StringIO(), io.StringIO()
    code = cli_main([str(a) for a in args], stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def sql(path: Path, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the workspace database behind the app's back, with the keyring's key."""
    meta = layout.read_meta(path)
    key = KeyringStore(meta["workspace_id"]).require(DB_SLOT, "database key")
    conn = db.raw_connect(path / layout.DB_FILE, key)
    try:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


# The last released schema (main before issue 12): an upgrade test builds its workspace
# with today's code, then turns it into that release's database (`make_previous_release`).
PREVIOUS_RELEASE = "0004"

# Revision 0006_sync's schema changes, undone: `as_previous_revision` makes a workspace
# built at the head one of revision 0005_keys (key slots, no sync yet).
UNDO_SYNC = [
    "DROP TABLE sync_connection", "DROP TABLE sync_conflicts", "DROP TABLE sync_rejections",
    "DROP INDEX outbox_mid_key", "DROP INDEX outbox_pending_idx",
    *(f"ALTER TABLE outbox DROP COLUMN {c}"
      for c in ("base_version", "fields", "mid", "acked_at", "verdict")),
]

# Revision 0008_activities: two tables only (their indexes go with them).
UNDO_ACTIVITIES = ["DROP TABLE deal_activities", "DROP TABLE deal_history"]
# Revisions 0011_board_close (one index) and 0010_views (one table, its index with it).
UNDO_BOARD = ["DROP INDEX deals_live_status_close_idx"]
UNDO_VIEWS = [*UNDO_BOARD, "DROP TABLE saved_views"]


def _undo_owner() -> list[str]:
    """Revision 0009_owner undone: its indexes, columns and deal_stats' 0003 triggers."""
    import importlib
    stats = importlib.import_module(
        "closeplan_desktop.core.store.migrations.versions.0003_speed_at_scale").STATS
    return [
        "DROP INDEX deals_live_owner_idx", "DROP INDEX deals_live_owner_id_idx",
        "DROP INDEX deals_live_close_idx", "DROP TRIGGER deal_stats_ai",
        "DROP TRIGGER deal_stats_ad", "DROP TRIGGER deal_stats_au", *stats[1:],
        "ALTER TABLE deal_stats DROP COLUMN weighted", "DROP TABLE deal_forecast_stats",
        *(f"ALTER TABLE deals DROP COLUMN {c}"
          for c in ("owner_id", "expected_close_date", "probability")),
    ]


UNDO_OWNER = _undo_owner()


def as_previous_revision(path: Path) -> None:
    """Make the (closed) workspace at `path`, built at the head, a database of revision
    0005_keys: the audit upload and sync tables and outbox columns dropped, its version
    set."""
    for statement in UNDO_VIEWS + UNDO_OWNER + UNDO_ACTIVITIES:
        sql(path, statement)
    sql(path, "DROP TABLE audit_receipts")  # 0007_audit_upload
    sql(path, "DROP TABLE audit_upload")
    for statement in UNDO_SYNC:
        sql(path, statement)
    sql(path, "UPDATE alembic_version SET version_num = ?", ("0005_keys",))


def use_system_policy(monkeypatch: pytest.MonkeyPatch, path: Path, *,
                      below_floors: bool = True) -> None:
    """Read the system policy from `path` for this test (from code: no user can do this).
    `below_floors` keeps the suite's cheap bcrypt cost; a test of the floors turns it off."""
    monkeypatch.setattr(policy, "SYSTEM_POLICY_OVERRIDE",
                        policy.SystemPolicyOverride(path, below_floors))


def keep_discarded_backups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that receives a copy of each migration backup just before it is removed."""
    kept = tmp_path / "kept-backups"
    kept.mkdir()
    real = workspace.discard_backup

    def keep(backup: Path) -> None:
        shutil.copyfile(backup, kept / backup.name)
        real(backup)

    monkeypatch.setattr(workspace, "discard_backup", keep)
    return kept


@contextmanager
def legacy_tenants() -> Iterator[None]:
    """Let `users.create_tenant` add a second tenant to a workspace, as versions before
    issue 13 did: core now refuses that, and these tests check that such older
    workspaces still keep their tenants apart."""
    with mock.patch.object(users, "refuse_second_tenant", lambda s: None):
        yield


def held_phi_keys(ws: Workspace) -> dict[str, bytes]:
    """The PHI keys a signed-in session unlocked in `ws`, by keyring slot name."""
    with db.read_session(ws.engine) as s:
        versions = list(s.execute(select(PhiKey.tenant_id, PhiKey.version)))
    found = {phi_slot(t, v): ws.keyring.held(phi_slot(t, v)) for t, v in versions}
    return {slot: key for slot, key in found.items() if key is not None}


def make_previous_release(path: Path, phi_keys: dict[str, bytes],
                          passwords: dict[str, str]) -> None:
    """Turn a closed workspace made by this version into one as the release before key
    slots, sync and audit upload (schema 0004) left it: PHI keys in plain keyring entries, users
    verified by bcrypt hashes, no slots, grants, device keys or sync tables. Revision
    0005_keys only added two tables, 0006_sync tables and outbox columns, so dropping
    them gives exactly the older schema."""
    meta = layout.read_meta(path)
    keys = KeyringStore(meta["workspace_id"])
    for slot, key in phi_keys.items():
        keys.put(slot, key)
    keys.delete(UNLOCK_SLOT)
    keys.delete(DEVICE_ID_SLOT)
    for email, password in passwords.items():
        sql(path, "UPDATE users SET password = ? WHERE email = ?",
            (hash_password(password, 4), email))
    for statement in UNDO_VIEWS + UNDO_OWNER + UNDO_ACTIVITIES:
        sql(path, statement)
    for statement in UNDO_SYNC:
        sql(path, statement)
    sql(path, "DROP TABLE audit_receipts")  # 0007_audit_upload: two tables only
    sql(path, "DROP TABLE audit_upload")
    sql(path, "DROP TABLE key_grants")
    sql(path, "DROP TABLE key_slots")
    sql(path, "DELETE FROM workspace_meta WHERE key IN ('device_key_id', 'device_public', "
              "'needs_enrolment')")
    sql(path, "UPDATE alembic_version SET version_num = ?", (PREVIOUS_RELEASE,))


def add_legacy_tenant(ws: Workspace, name: str, domain: str | None, email: str, first: str,
                      last: str, password: str) -> tuple[str, str]:
    """A second tenant in `ws`, as an older version could make one (`legacy_tenants`)."""
    with legacy_tenants():
        return users.create_tenant(ws, name, domain, email, first, last, password)


@dataclass
class FakeDialogs:
    """What the window showed and asked, and the answers it gets."""

    # (kind, title, text) of each message: "error", "information", "warning", "about"
    shown: list[tuple[str, str, str]] = field(default_factory=list)
    confirms: list[str] = field(default_factory=list)  # the title of each question
    answers: dict[str, bool] = field(default_factory=dict)  # by title; yes by default
    prompts: list[str] = field(default_factory=list)  # the title of each text/file prompt
    text: str | None = None  # what ask_text answers (None: cancelled)
    save: tuple[Path, str] | None = None  # what save_file answers (None: cancelled)
    open: Path | None = None  # what open_file answers
    folder: Path | None = None  # what choose_folder answers

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(title, text) of each error dialog."""
        return [(title, text) for kind, title, text in self.shown if kind == "error"]

    @property
    def messages(self) -> list[tuple[str, str, str]]:
        """(kind, title, text) of each information or warning box."""
        return [m for m in self.shown if m[0] in ("information", "warning")]
