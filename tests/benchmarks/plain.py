"""The unencrypted baseline: the same database, exported without a key by SQLCipher
itself (`ATTACH ... KEY ''` and `sqlcipher_export`), opened through the same engine
settings as the app (core.db.engine_over and core.db.configure), minus the key."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import select

from closeplan_desktop.core.security.keyring_store import AUDIT_SLOT, DB_SLOT, KeyringStore
from closeplan_desktop.core.security.policy import load_policy
from closeplan_desktop.core.store import db, layout
from closeplan_desktop.core.store.models import Meta
from closeplan_desktop.core.store.workspace import Workspace


def export_plain(ws_path: Path, target: Path) -> None:
    """Write an unencrypted copy of the (closed) workspace's database to `target`."""
    meta = layout.read_meta(ws_path)
    key = KeyringStore(meta["workspace_id"]).require(DB_SLOT, "database key")
    target.unlink(missing_ok=True)
    conn = db.raw_connect(ws_path / layout.DB_FILE, key)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ATTACH DATABASE ? AS plain KEY ''", (str(target),))
        conn.execute("SELECT sqlcipher_export('plain')")
        conn.execute("DETACH DATABASE plain")
    finally:
        conn.close()


def _connect(path: Path) -> sqlcipher.Connection:
    conn = sqlcipher.connect(str(path), check_same_thread=False, isolation_level=None,
                             timeout=30)
    db.configure(conn)
    return conn


def open_plain(ws_path: Path, plain_db: Path) -> Workspace:
    """A Workspace over the unencrypted copy: same ids, same keyring entries (the audit
    key, the slots' keyring half: a sign-in unlocks its PHI keys), no database key and
    no lock."""
    meta = layout.read_meta(ws_path)
    engine = db.engine_over(functools.partial(_connect, plain_db))
    with db.read_session(engine) as s:
        device_id = s.scalar(select(Meta.value).where(Meta.key == "device_id"))
    keys = KeyringStore(meta["workspace_id"])
    # As workspace.open_workspace does: the keyring is reached, and the audit key read,
    # while opening, not at the first sign-in.
    keys.require(AUDIT_SLOT, "audit key")
    return Workspace(plain_db.parent, meta["workspace_id"], str(device_id), engine, keys,
                     load_policy())
