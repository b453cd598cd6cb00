"""A tenant workspace: one directory with the encrypted database and its public facts.

Layout::

    workspace.json   public facts: workspace id, key fingerprint, app version (no secrets)
    closeplan.db     the SQLCipher database (plus -wal/-shm while open)
    backups/         an encrypted copy taken before a schema migration, removed once
                     the migrated database checks out (never left as a ready rollback)
    .lock            held by the process that has the workspace open

Opening takes the database key from the OS keyring, checks that it is the key of this
file, refuses a database written by a newer version, refuses one older than the
position the keyring recorded (`anchor`: a copied-back older file), backs up and
migrates an older schema, and notices a folder copied or restored from another device
(`key_vault.copied_here`). PHI keys stay locked until a user signs in.
The folder is kept 0700 and its files 0600 (umask 0077), whatever the folder was.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import Engine, select, text

from ... import __version__
from ..domain.clock import iso, utcnow
from ..domain.enums import SecurityEventType
from ..domain.errors import (
    ClosePlanError,
    KeyMismatch,
    KeyMissing,
    NewerWorkspace,
    NotAWorkspace,
    RolledBack,
    WorkspaceBusy,
    WorkspaceError,
)
from ..domain.ids import new_id
from ..security import crypto, hardening
from ..security.keyring_store import (
    AUDIT_SLOT,
    DB_PENDING_SLOT,
    DB_SLOT,
    KeyringStore,
    db_slot_for,
)
from ..security.policy import Policy, load_policy
from . import anchor as rollback
from . import audit_log, db, key_vault
from .layout import DB_FILE, FORMAT, FORMAT_VERSION, LOCK_FILE, META_FILE, read_meta, write_meta
from .models import Meta

# Alembic revisions this build knows, oldest first; the last is the head.
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005_keys", "0006_sync",
                   "0007_audit_upload", "0008_activities", "0009_owner", "0010_views",
                   "0011_board_close")
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
    anchor: rollback.AnchorWriter | None = field(default=None, repr=False)
    sole_tenant_id: str | None = None  # cached by audit_log.sole_tenant
    db_slot: str = DB_SLOT  # the keyring slot that holds this folder's database key

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    def meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def close(self) -> None:
        if self.anchor is not None:
            # Once: a wipe closes the workspace before the window does, and a second
            # anchor write would put an entry back in the emptied keyring.
            self.anchor.close()
            self.anchor = None
        self.engine.dispose()
        self.keyring.forget()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def acquire(path: Path) -> filelock.BaseFileLock:
    """Take the workspace's lock (WorkspaceBusy when another process holds it)."""
    return _acquire(path)


def _acquire(path: Path) -> filelock.BaseFileLock:
    # Not thread-local: the window opens a workspace on a worker thread and closes it on
    # the UI thread, and the close must release this lock.
    lock = filelock.FileLock(str(path / LOCK_FILE), timeout=0, thread_local=False,
                             mode=0o600)
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
    tighten(path)
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
        tighten(path)
    except BaseException:
        lock.release()
        raise
    writer = rollback.AnchorWriter(keys, rollback.AnchorState(), written=False)
    return Workspace(path, workspace_id, device_id, engine, keys, load_policy(), lock, writer)


def open_workspace(path: Path) -> Workspace:
    """Open an existing workspace, with a distinct message for each way that can fail."""
    return _open(path, anchored=True)


def open_refused_copy(path: Path) -> Workspace:
    """Open a workspace without comparing it with the rollback anchor, and without moving
    the anchor: only for `usecases.restore.accept_restore`, which signs an administrator
    in and logs the acceptance before it re-anchors (`reanchor`)."""
    return _open(path, anchored=False)


def _open(path: Path, *, anchored: bool) -> Workspace:
    hardening.apply()
    meta = read_meta(path)
    policy = load_policy()
    lock = _acquire(path)
    try:
        keys = KeyringStore(meta["workspace_id"])
        db_key, db_slot = _db_key(path, meta, keys)
        engine = db.make_engine(path / DB_FILE, db_key)
        try:
            revision = _check_revision(engine, path)
            with db.read_session(engine) as s:
                device_id = s.scalar(select(Meta.value).where(Meta.key == "device_id"))
            if not device_id:
                raise NotAWorkspace(f"{path} is not a usable workspace: its database has no "
                                    "device record. Restore it from a backup.")
            keys.require(AUDIT_SLOT, "audit key")
            ws = Workspace(path, meta["workspace_id"], device_id, engine, keys, policy, lock,
                           db_slot=db_slot)
            ws.anchor = _check_anchor(ws) if anchored else None
            if revision != SCHEMA_HEAD:
                _backup_and_migrate(engine, path, revision)
            tighten(path)
        except BaseException:
            engine.dispose()
            raise
    except BaseException:
        lock.release()
        raise
    if anchored:
        _check_copied(ws)
    return ws


COPIED = ("This workspace's device key is not in this keyring: the folder was copied or "
          "restored here. It now has a new device id and audit chain (the old rows stay, "
          "verifiable as the old device's) and must enrol with the server again.")


def _check_copied(ws: Workspace) -> None:
    """A database naming a device key this keyring does not know was copied or restored
    from elsewhere: give it a new device id (its audit rows start a new chain) and mark
    it as needing enrolment; new device keys are made at the next sign-in."""
    with db.read_session(ws.engine) as s:
        copied = key_vault.copied_here(s, ws)
    if not copied:
        return
    old_device = ws.device_id
    new_device = new_id()
    with db.write_session(ws.engine) as s:
        row = s.get(Meta, "device_id")
        assert row is not None
        row.value = new_device
        key_vault.forget_device(s)
        ws.device_id = new_device
        audit_log.log_event(s, ws, SecurityEventType.WORKSPACE_COPIED, None, None,
                            {"old_device": old_device})


ROLLED_BACK = (
    "The workspace database at {path} is older than the last state this device "
    "recorded ({why}). It was copied back from an older copy or backup, or log rows were "
    "removed, which would erase audit records; it was not opened. Put the latest "
    "closeplan.db back, or ask IT to investigate. If this is a restore made on purpose, "
    "an administrator can accept it (logged): closeplan-admin workspace accept-restore "
    "--workspace \"{path}\" --as ADMIN_EMAIL --reason -"
)


def rollback_problem(ws: Workspace) -> tuple[str, int, int] | None:
    """Why the keyring's anchor refuses this database, with the anchor's counter and the
    database's, or None when it would open."""
    stored = rollback.load(ws.keyring)
    if stored is None:
        return None
    with db.read_session(ws.engine) as s:
        why = rollback.problem(s, stored)
        counter = rollback.db_state(s).counter
    return None if why is None else (why, stored.counter, counter)


def reanchor(ws: Workspace) -> int:
    """Set the rollback anchor to where this database stands now (an accepted restore);
    returns the counter anchored."""
    with db.read_session(ws.engine) as s:
        state = rollback.db_state(s)
    ws.keyring.replace(rollback.ANCHOR_SLOT, state.to_bytes())
    return state.counter


def _check_anchor(ws: Workspace) -> rollback.AnchorWriter:
    """Compare the database with the keyring's anchor: refuse one that is behind (with
    a security event); otherwise the writer that keeps the anchor moving."""
    stored = rollback.load(ws.keyring)
    with db.read_session(ws.engine) as s:
        current = rollback.db_state(s)
        why = rollback.problem(s, stored) if stored is not None else None
    if why is not None:
        try:  # the refused file records the refusal; the anchor does not move
            with db.write_session(ws.engine) as s:
                audit_log.log_event(s, ws, SecurityEventType.ROLLBACK_DETECTED, None, None,
                                    {"why": why})
        except ClosePlanError:
            pass
        raise RolledBack(ROLLED_BACK.format(path=ws.path, why=why))
    if stored is None:  # an anchor starts from the database it first sees
        return rollback.AnchorWriter(ws.keyring, current, written=False)
    moved = stored.advance(current.counter, {k: (m.seq, m.hash, m.genesis)
                                             for k, m in current.chains.items()})
    return rollback.AnchorWriter(ws.keyring, stored, written=not moved)


def tighten(path: Path) -> None:
    """Make the workspace folder 0700 and its files 0600 (a folder that already existed
    keeps whatever mode it had otherwise). POSIX only; a file we cannot change is left."""
    if os.name != "posix":  # pragma: no cover - NTFS ACLs come from the profile folder
        return
    targets = [(path, 0o700)]
    targets += [(path / name, 0o600) for name in (DB_FILE, f"{DB_FILE}-wal",
                                                   f"{DB_FILE}-shm", LOCK_FILE, META_FILE)]
    backups = path / BACKUPS
    if backups.is_dir():
        targets.append((backups, 0o700))
        targets += [(f, 0o600) for f in backups.iterdir() if f.is_file()]
    for target, mode in targets:
        try:
            if stat.S_IMODE(target.stat().st_mode) != mode:
                os.chmod(target, mode)
        except OSError:
            pass


def loose_modes(path: Path) -> list[str]:
    """The workspace's folder and files that others can read or write (for `doctor`)."""
    if os.name != "posix":  # pragma: no cover
        return []
    found = []
    candidates = [path, *(p for p in path.iterdir())]
    backups = path / BACKUPS
    if backups.is_dir():
        candidates += list(backups.iterdir())
    for p in candidates:
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append(f"{p.name or p} ({mode:o})")
    return found


def _db_key(path: Path, meta: dict[str, Any], keys: KeyringStore) -> tuple[bytes, str]:
    """The database key and its slot, finishing a rekey that a crash interrupted. The
    key the folder names (its fingerprint) is looked for in `DB_SLOT`, then under its
    fingerprint (another copy of the folder may use `DB_SLOT`)."""
    db_file = path / DB_FILE
    expected = meta.get("key_check")
    key = keys.get(DB_SLOT)
    pending = keys.get(DB_PENDING_SLOT)
    if key is not None and crypto.key_check(key) == expected and db.key_opens(db_file, key):
        if pending is not None:
            keys.delete(DB_PENDING_SLOT)
        return key, DB_SLOT
    if isinstance(expected, str):
        kept = keys.get(db_slot_for(expected))
        if kept is not None and crypto.key_check(kept) == expected and \
                db.key_opens(db_file, kept):
            return kept, db_slot_for(expected)
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
            return candidate, DB_SLOT
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


def _check_revision(engine: Engine, path: Path) -> str:
    """The database's revision: refuses a newer one and one with no schema."""
    revision = schema_revision(engine)
    if revision == SCHEMA_HEAD:
        return revision
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise NewerWorkspace(
            f"The workspace at {path} was written by a newer ClosePlan Desktop (schema "
            f"{revision}); this version knows up to {SCHEMA_HEAD}. Update the app to open it; "
            "the workspace was not changed."
        )
    if revision is None:
        raise NotAWorkspace(f"{path / DB_FILE} holds no ClosePlan schema. Restore the "
                            "workspace from a backup.")
    return revision


def _backup_and_migrate(engine: Engine, path: Path, revision: str) -> None:
    """Back up, migrate, check the result, then remove the backup: a copy left in
    backups/ would be a ready rollback (README, Reliability and security, finding 1)."""
    backup = backup_database(engine, path, f"before-{SCHEMA_HEAD}-from-{revision}")
    _migrate(engine, path / DB_FILE)
    with engine.connect() as conn:
        quick = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check")]
    if quick != ["ok"] or schema_revision(engine) != SCHEMA_HEAD:
        raise NotAWorkspace(f"The upgrade of {path / DB_FILE} did not check out; the copy "
                            f"taken before it is {backup}.")
    discard_backup(backup)


def discard_backup(backup: Path) -> None:
    """Remove a migration backup once the migrated database has checked out."""
    backup.unlink(missing_ok=True)
    try:
        backup.parent.rmdir()  # only when empty
    except OSError:
        pass


BACKUPS = "backups"


def backup_database(engine: Engine, path: Path, label: str) -> Path:
    """Copy the (still encrypted) database into backups/ after a WAL checkpoint."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    target_dir = path / BACKUPS
    target_dir.mkdir(exist_ok=True, mode=0o700)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"closeplan-{stamp}-{label}.db"
    shutil.copyfile(path / DB_FILE, target)
    os.chmod(target, 0o600)
    return target


def _migrate(engine: Engine, db_file: Path) -> None:
    from alembic import command  # imported only when a migration runs (start-up cost)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, SCHEMA_HEAD)
