"""Key administration use cases: key status, PHI key rotation, database rekey, recovery
kits. Rotation commits the new active version first, then re-encrypts old rows in
resumable batches (`core.store.phi_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain import paths, validation
from ..domain.clock import iso, utcnow
from ..domain.enums import PhiKeyState
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import CryptoError, PermissionDenied, ValidationError, WorkspaceError
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.keyring_store import (
    AUDIT_SLOT,
    DB_PENDING_SLOT,
    DB_SLOT,
    UNLOCK_SLOT,
    KeyringStore,
    backend_name,
    db_slot_for,
    phi_slot,
)
from ..security.passwords import require_strong
from ..security.policy import load_policy
from ..store import db, kit_reset, workspace
from ..store.audit_log import log_event
from ..store.layout import DB_FILE, read_meta, write_meta
from ..store.models import Deal, Meta, PhiKey, SyncConnection, Tenant
from ..store.phi_keys import active_version, new_version, pending_rows, reencrypt
from ..store.workspace import Workspace
from . import frame

if TYPE_CHECKING:
    from .frame import AuthSession

@dataclass(frozen=True)
class KeyStatus:
    backend: str
    db_key_present: bool
    audit_key_present: bool
    phi_versions: list[tuple[int, str, int, bool]]  # version, state, rows, key present
    # Connected to a server: rotation is online and re-encrypts nothing, so rows under
    # older versions are not waiting for anything.
    connected: bool = False

    @property
    def pending_rows(self) -> int:
        """Rows still to re-encrypt under the active version (none when connected)."""
        if self.connected:
            return 0
        return sum(rows for _, state, rows, _ in self.phi_versions if state != "ACTIVE")


def status(session: AuthSession) -> KeyStatus:
    """Admin use case: which keys exist, how many rows use each, whether each is present."""
    ws = session.ws
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "keys.status")
        return _status(s, ws, session.tenant_id)


def _status(s: Session, ws: Workspace, tenant_id: str) -> KeyStatus:
    counts = dict(s.execute(select(Deal.phi_key_version, func.count())
                            .where(Deal.tenant_id == tenant_id,
                                   Deal.phi_key_version.is_not(None))
                            .group_by(Deal.phi_key_version)).all())
    versions = [(k.version, k.state.value, counts.get(k.version, 0),
                 ws.keyring.held(phi_slot(tenant_id, k.version)) is not None)
                for k in s.scalars(select(PhiKey).where(PhiKey.tenant_id == tenant_id)
                                   .order_by(PhiKey.version))]
    return KeyStatus(backend_name(), ws.keyring.get(ws.db_slot) is not None,
                     ws.keyring.get(AUDIT_SLOT) is not None, versions,
                     s.get(SyncConnection, 1) is not None)


def rotate_phi(session: AuthSession, progress: Progress = no_progress,
               cancel: CancelToken | None = None) -> int:
    """Admin use case: make a new active PHI key and re-encrypt every row under it.

    Returns the number of rows re-encrypted. If cancelled or interrupted, the rows done
    stay done and a later call (or the next open) finishes the rest.
    """
    ws = session.ws
    with frame.run(session) as s:
        frame.require_admin(s, session, "keys.rotate_phi")
        if s.get(SyncConnection, 1) is not None:
            # The server would refuse rows sealed with a version it never made.
            raise ValidationError("This workspace syncs with a server, where PHI key "
                                  "rotation is an online operation; it is not done on one "
                                  "laptop alone.")
        pending = pending_rows(s, session.tenant_id)
        if not pending:
            current = active_version(s, session.tenant_id)
            old = s.get(PhiKey, (session.tenant_id, current))
            assert old is not None
            old.state = PhiKeyState.DECRYPT_ONLY
            s.flush()
            new_version(s, ws, session.tenant_id, current + 1, session.user_id)
            log_event(s, ws, Ev.KEY_ROTATED, session.tenant_id, session.user_id,
                      {"key": "phi", "from": current, "to": current + 1})
    return reencrypt(ws, session.tenant_id, session.user_id, progress, cancel)


def rotate_db(session: AuthSession) -> None:
    """Admin use case: re-encrypt the whole database file under a new random key.

    Order, so that a crash at any step leaves a key that opens the file: the new key goes
    to the keyring's pending slot, then PRAGMA rekey, then the fingerprint, then the
    current slot. Opening a workspace finishes a rekey that was cut short. A folder whose
    key is kept by fingerprint (a copy, restored from a kit) keeps its new key the same
    way, so the key of the copy in the main slot is never replaced.
    """
    ws = session.ws
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "keys.rotate_db")
        _one_tenant(s, "rotate the database key")
    new = crypto.new_key()
    old_slot = ws.db_slot
    ws.keyring.replace(DB_PENDING_SLOT, new)
    if ws.anchor is not None:
        ws.anchor.flush()  # the engine goes away below; no commit is left in flight
    ws.engine.dispose()
    conn = db.raw_connect(ws.db_path, ws.keyring.require(old_slot, "database key"))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
    finally:
        conn.close()
    write_meta(ws.path, dict(read_meta(ws.path), key_check=crypto.key_check(new)))
    if old_slot == DB_SLOT:
        ws.keyring.replace(DB_SLOT, new)
    else:
        ws.db_slot = db_slot_for(crypto.key_check(new))
        ws.keyring.put(ws.db_slot, new)
    ws.keyring.delete(DB_PENDING_SLOT)
    ws.engine = db.make_engine(ws.db_path, new)
    with db.write_session(ws.engine) as s:
        log_event(s, ws, Ev.DB_KEY_ROTATED, session.tenant_id, session.user_id,
                  {"fingerprint": crypto.key_check(new)[:12]})


def _one_tenant(s: Session, what: str) -> None:
    """Refuse a workspace-wide key operation in an older workspace that holds more than
    one tenant: its database key is every tenant's (issue 13, finding 2)."""
    if len(list(s.scalars(select(Tenant.id).limit(2)))) > 1:
        raise PermissionDenied(
            f"This workspace holds more than one organisation (it was made by an older "
            f"version), so one organisation's administrator cannot {what}: it would give "
            "away or break the other's keys. Ask IT to split the workspace.")


def export_kit(session: AuthSession, target: Path, passphrase: str) -> None:
    """Admin use case: write a recovery kit of the workspace's keys, sealed with a
    passphrase (Argon2id, AES-256-GCM). It holds the database and audit keys, the
    keyring half of the users' slots, and the tenant's PHI keys still in use (as this
    session unlocked them); retired PHI keys (no row uses them) are left out."""
    ws = session.ws
    passphrase = require_strong(validation.password(passphrase, ws.policy.password_min_length))
    target = Path(target)
    if target.is_dir() or not target.parent.is_dir():
        raise ValidationError(f"Give a file name in an existing folder for the kit: {target}.")
    with frame.run(session) as s:
        frame.require_admin(s, session, "keys.export_kit")
        _one_tenant(s, "export a recovery kit")
        phi: dict[str, dict[str, str]] = {}
        for key in s.scalars(select(PhiKey).where(PhiKey.tenant_id == session.tenant_id,
                                                  PhiKey.state != PhiKeyState.RETIRED)
                             .order_by(PhiKey.version)):
            material = ws.keyring.held(phi_slot(key.tenant_id, key.version))
            if material is not None:
                phi.setdefault(key.tenant_id, {})[str(key.version)] = material.hex()
        payload: dict[str, Any] = {
            "workspace_id": ws.workspace_id,
            "db_key": ws.keyring.require(ws.db_slot, "database key").hex(),
            "audit_key": ws.keyring.require(AUDIT_SLOT, "audit key").hex(),
            "phi_keys": phi,
            "created_at": iso(utcnow()),
        }
        unlock = ws.keyring.get(UNLOCK_SLOT)
        if unlock is not None:  # the keyring half of every user's slot: they sign in again
            payload["unlock_key"] = unlock.hex()
        sealed = crypto.seal_kit(passphrase, payload)
        del payload
        log_event(s, ws, Ev.RECOVERY_KIT_EXPORTED, session.tenant_id, session.user_id,
                  {"file": target.name})
        # Written inside the transaction: if the file cannot be written, no event says so.
        try:
            paths.atomic_write_bytes(target, sealed)
        except OSError as exc:
            raise WorkspaceError(f"Cannot write the kit to {target} ({exc.strerror}).") from None


OLD_KIT = (
    "This recovery kit was made by an older version of ClosePlan, before kits kept the "
    "sign-in key of the users' key slots, and this keyring no longer has that key: the "
    "kit restores the data and PHI keys, but nobody could sign in with it. Nothing was "
    "changed. Import it again naming an administrator, who gets a new password here "
    "(the other users then get theirs from that administrator): 'closeplan-admin keys "
    "import-kit FILE --reset-admin EMAIL'. On a workspace connected to a server, give the "
    "administrator's server password. Then export a new kit.")


def import_kit(path: Path, kit: bytes, passphrase: str, *, reset_admin: str | None = None,
               new_password: str | None = None) -> list[str]:
    """Put a kit's keys into this machine's keyring for the workspace at `path`.

    Its PHI keys go into the keyring as an older workspace kept them; the next sign-in
    wraps them for the users' slots and removes them from the keyring (`key_vault`).
    Its keyring half of the slots (`unlock_key`) lets the users sign in again.

    Checks that the kit belongs to the workspace and that its database key opens the
    file; then, holding the workspace's lock, logs the import in the database (with the
    kit's own keys) before it writes anything to the keyring. Never replaces a key: a
    database key that differs from the one in the keyring (that of another copy of the
    folder) is kept by its fingerprint, which the folder names. Returns a line per key
    restored.

    A kit made before kits kept the slots' keyring half (no `unlock_key`), imported where
    the keyring lost it too, is refused (OLD_KIT says what to do) unless `reset_admin`
    names an active administrator: then every key slot (sealed under the lost half) is
    dropped and that administrator gets a new one with `new_password`, granted the kit's
    PHI keys; the other users get theirs by a password reset.
    """
    meta = read_meta(path)
    payload = crypto.open_kit(passphrase, kit)
    if payload.get("workspace_id") != meta["workspace_id"]:
        raise ValidationError("This recovery kit belongs to another workspace; use the kit "
                              "exported from this one.")
    try:
        db_key = bytes.fromhex(payload["db_key"])
        audit_key = bytes.fromhex(payload["audit_key"])
        phi = {str(t): {int(v): bytes.fromhex(k) for v, k in vs.items()}
               for t, vs in payload["phi_keys"].items()}
        unlock = bytes.fromhex(payload["unlock_key"]) if "unlock_key" in payload else None
    except (KeyError, ValueError, AttributeError, TypeError):
        raise ValidationError("The recovery kit is damaged; its keys cannot be read.") from None
    lock = workspace.acquire(path)
    try:
        if not db.key_opens(path / DB_FILE, db_key):
            raise CryptoError("The kit's database key does not open this workspace's "
                              "database (the database was rekeyed after the kit was made). "
                              "Use a newer kit.")
        keys = KeyringStore(meta["workspace_id"])
        reset = None
        if unlock is None and keys.get(UNLOCK_SLOT) is None:
            reset = kit_reset.plan(path / DB_FILE, db_key, reset_admin, new_password,
                                   OLD_KIT)
        fingerprint = crypto.key_check(db_key)
        held = keys.get(DB_SLOT)
        db_slot = DB_SLOT if held is None or held == db_key else db_slot_for(fingerprint)
        plan = [(db_slot, db_key), (AUDIT_SLOT, audit_key)]
        if unlock is not None:
            plan.append((UNLOCK_SLOT, unlock))
        tenants = _log_import(path, meta["workspace_id"], db_key, audit_key, phi, keys)
        plan += [(phi_slot(t, v), k) for t, vs in phi.items() if t in tenants
                 for v, k in sorted(vs.items())]
        done = []
        for slot, material in plan:
            if keys.get(slot) != material:
                keys.put(slot, material)  # refuses to replace a different key
                done.append(slot)
        if fingerprint != meta.get("key_check"):
            write_meta(path, dict(meta, key_check=fingerprint))
        if reset is not None:
            kit_reset.apply(path, meta["workspace_id"], db_key, audit_key, phi, reset)
            done.append(f"{UNLOCK_SLOT} (new; a new key slot for {reset.email})")
    finally:
        lock.release()
    return done


def _log_import(path: Path, workspace_id: str, db_key: bytes, audit_key: bytes,
                phi: dict[str, dict[int, bytes]], keys: KeyringStore) -> set[str]:
    """Refuse a kit whose audit or PHI keys differ from the keyring's; then log the import
    in the database, chained with the kit's audit key. Returns the workspace's tenants."""
    for slot, material in [(AUDIT_SLOT, audit_key)] + [
            (phi_slot(t, v), k) for t, vs in phi.items() for v, k in vs.items()]:
        existing = keys.get(slot)
        if existing is not None and existing != material:
            raise ValidationError(f"The keyring already holds a different key for {slot}; "
                                  "nothing was replaced.")
    engine = db.make_engine(path / DB_FILE, db_key)
    try:
        with db.read_session(engine) as s:
            device_id = s.scalar(select(Meta.value).where(Meta.key == "device_id"))
            tenants = set(s.scalars(select(Tenant.id)))
        if not device_id:
            raise WorkspaceError(f"{path} is not a usable workspace: its database has no "
                                 "device record.")
        # The kit's keys, in memory only, until the log row is committed.
        held = KeyringStore(workspace_id)
        held.remember(AUDIT_SLOT, audit_key)
        ws = Workspace(path, workspace_id, device_id, engine, held, load_policy())
        restored = 2 + sum(len(vs) for t, vs in phi.items() if t in tenants)
        with db.write_session(engine) as s:
            log_event(s, ws, Ev.RECOVERY_KIT_IMPORTED, None, None,
                      {"keys_in_kit": restored})
        held.forget()
    finally:
        engine.dispose()
    return tenants


def read_kit_file(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"Cannot read the kit file {path} ({exc.strerror}).") from None
    if len(data) > 1 << 20:
        raise ValidationError("The file is too large to be a ClosePlan recovery kit.")
    return data

