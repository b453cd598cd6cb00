"""A tenant workspace: one directory with the encrypted database and its public facts.

Layout::

    workspace.json   public facts: workspace id, key fingerprint, app version (no secrets)
    closeplan.db     the SQLCipher database (plus -wal/-shm while open)
    backups/         encrypted copies taken before each schema migration
    .lock            held by the process that has the workspace open

Opening takes the database key from the OS keyring, checks that it is the key of this
file, refuses a database written by a newer version, backs up and migrates an older
one, and finishes any key rotation an earlier run left half-done.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import Engine, select, text

from ... import __version__
from ..domain.clock import iso, utcnow
from ..domain.errors import (
    KeyMismatch,
    KeyMissing,
    NewerWorkspace,
    NotAWorkspace,
    WorkspaceBusy,
    WorkspaceError,
)
from ..domain.ids import new_id
from ..security import crypto, hardening
from ..security.keyring_store import AUDIT_SLOT, DB_PENDING_SLOT, DB_SLOT, KeyringStore
from ..security.policy import Policy, load_policy
from . import db, phi_keys
from .layout import DB_FILE, FORMAT, FORMAT_VERSION, LOCK_FILE, META_FILE, read_meta, write_meta
from .models import Meta

# Alembic revisions this build knows, oldest first; the last is the head.
KNOWN_REVISIONS = ("0001", "0002", "0003")
SCHEMA_HEAD = KNOWN_REVISIONS[-1]


@dataclass
class Workspace:
    """An open workspace. Close it (or use it as a context manager) to release the lock."""

    path: Path
    workspace_id: str
    device_id: str
    engine: Engine
    keyring: KeyringStore
    policy: Policy
    _lock: filelock.BaseFileLock | None = field(default=None, repr=False)

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    def meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def close(self) -> None:
        self.engine.dispose()
        self.keyring.forget()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _acquire(path: Path) -> filelock.BaseFileLock:
    # Not thread-local: the window opens a workspace on a worker thread and closes it on
    # the UI thread, and the close must release this lock.
    lock = filelock.FileLock(str(path / LOCK_FILE), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise WorkspaceBusy(f"The workspace at {path} is already open in another ClosePlan "
                            "window or command. Close it there and try again.") from None
    return lock


def create(path: Path) -> Workspace:
    """Create a new, empty workspace at `path` and open it.

    Refuses a directory that already holds a workspace or other files, so that no new key
    is ever made over existing data.
    """
    hardening.apply()
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} is a file; choose a folder for the new workspace.")
    if (path / META_FILE).exists() or (path / DB_FILE).exists():
        raise WorkspaceError(f"{path} already holds a workspace; open it instead, or choose "
                             "another folder.")
    if path.exists() and any(p.name != LOCK_FILE for p in path.iterdir()):
        raise WorkspaceError(f"{path} is not empty; choose an empty or new folder.")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise WorkspaceError(f"Cannot create {path} ({exc.strerror}); choose a folder you "
                             "can write to.") from None
    lock = _acquire(path)
    try:
        workspace_id, device_id = new_id(), new_id()
        keys = KeyringStore(workspace_id)
        db_key, audit_key = crypto.new_key(), crypto.new_key()
        # Keys first: a crash after this leaves unused keyring entries, never data
        # without its key.
        keys.put(DB_SLOT, db_key)
        keys.put(AUDIT_SLOT, audit_key)
        engine = db.make_engine(path / DB_FILE, db_key)
        _migrate(engine, path / DB_FILE)
        with db.write_session(engine) as s:
            s.add(Meta(key="device_id", value=device_id))
            s.add(Meta(key="workspace_id", value=workspace_id))
        write_meta(path, {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "workspace_id": workspace_id, "key_check": crypto.key_check(db_key),
            "created_at": iso(utcnow()), "created_by_version": __version__,
        })
    except BaseException:
        lock.release()
        raise
    return Workspace(path, workspace_id, device_id, engine, keys, load_policy(), lock)


def open_workspace(path: Path) -> Workspace:
    """Open an existing workspace, with a distinct message for each way that can fail."""
    hardening.apply()
    meta = read_meta(path)
    policy = load_policy()
    lock = _acquire(path)
    try:
        keys = KeyringStore(meta["workspace_id"])
        db_key = _db_key(path, meta, keys)
        engine = db.make_engine(path / DB_FILE, db_key)
        try:
            _check_and_migrate(engine, path)
            with db.read_session(engine) as s:
                device_id = s.scalar(select(Meta.value).where(Meta.key == "device_id"))
            if not device_id:
                raise NotAWorkspace(f"{path} is not a usable workspace: its database has no "
                                    "device record. Restore it from a backup.")
            keys.require(AUDIT_SLOT, "audit key")
        except BaseException:
            engine.dispose()
            raise
    except BaseException:
        lock.release()
        raise
    ws = Workspace(path, meta["workspace_id"], device_id, engine, keys, policy, lock)
    phi_keys.resume_rotation(ws)
    return ws


def _db_key(path: Path, meta: dict[str, Any], keys: KeyringStore) -> bytes:
    """The database key, finishing a rekey that a crash interrupted."""
    db_file = path / DB_FILE
    expected = meta.get("key_check")
    key = keys.get(DB_SLOT)
    pending = keys.get(DB_PENDING_SLOT)
    if key is not None and crypto.key_check(key) == expected and db.key_opens(db_file, key):
        if pending is not None:
            keys.delete(DB_PENDING_SLOT)
        return key
    # A rekey writes the pending key, rekeys the file, then the fingerprint, then the
    # slot: whichever step a crash cut, one of the two keys opens the file.
    for candidate in (pending, key):
        if candidate is not None and db.key_opens(db_file, candidate):
            if crypto.key_check(candidate) != expected:
                meta = dict(meta, key_check=crypto.key_check(candidate))
                write_meta(path, meta)
            if candidate is not key:
                keys.replace(DB_SLOT, candidate)
            if pending is not None:
                keys.delete(DB_PENDING_SLOT)
            return candidate
    if key is None:
        raise KeyMissing(
            f"The database key of the workspace at {path} is not in this keyring. If the "
            "workspace was copied from another device or the keyring was reset, import its "
            "recovery kit with 'closeplan-admin keys import-kit'."
        )
    if crypto.key_check(key) != expected:
        raise KeyMismatch(
            f"The keyring holds a different key than the one the workspace at {path} was "
            "encrypted with (the keyring was changed or the folder comes from another device). "
            "Import the workspace's recovery kit with 'closeplan-admin keys import-kit'."
        )
    raise NotAWorkspace(f"{db_file} could not be decrypted with its own key: the file is "
                        "damaged. Restore the workspace from a backup.")


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision of the database, or None for an empty one."""
    with engine.connect() as conn:
        has_table = conn.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        )).first()
        if not has_table:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _check_and_migrate(engine: Engine, path: Path) -> None:
    revision = schema_revision(engine)
    if revision == SCHEMA_HEAD:
        return
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise NewerWorkspace(
            f"The workspace at {path} was written by a newer ClosePlan Desktop (schema "
            f"{revision}); this version knows up to {SCHEMA_HEAD}. Update the app to open it; "
            "the workspace was not changed."
        )
    if revision is None:
        raise NotAWorkspace(f"{path / DB_FILE} holds no ClosePlan schema. Restore the "
                            "workspace from a backup.")
    backup_database(engine, path, f"before-{SCHEMA_HEAD}-from-{revision}")
    _migrate(engine, path / DB_FILE)


def backup_database(engine: Engine, path: Path, label: str) -> Path:
    """Copy the (still encrypted) database into backups/ after a WAL checkpoint."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    target_dir = path / "backups"
    target_dir.mkdir(exist_ok=True, mode=0o700)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"closeplan-{stamp}-{label}.db"
    shutil.copy2(path / DB_FILE, target)
    return target


def _migrate(engine: Engine, db_file: Path) -> None:
    from alembic import command  # imported only when a migration runs (start-up cost)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, SCHEMA_HEAD)
