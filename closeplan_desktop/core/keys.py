"""Key use cases: PHI keys per tenant, rotation, database rekey, recovery kits.

PHI keys are versioned per tenant: one ACTIVE (encrypts), older ones DECRYPT_ONLY until
no row uses them, then RETIRED. Key material is in the OS keyring only; ``phi_keys``
records which versions exist. Rotation commits the new active version first, then
re-encrypts old rows in batches, each its own transaction, so an interrupted rotation
resumes where it stopped (on the next open, or the next ``rotate-phi``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import crypto, db, paths, validation, workers
from .audit import log_event
from .clock import iso, utcnow
from .errors import CryptoError, KeyMissing, ValidationError, WorkspaceError
from .events import SecurityEventType as Ev
from .keystore import AUDIT_SLOT, DB_PENDING_SLOT, DB_SLOT, KeyStore, backend_name, phi_slot
from .models import Deal, PhiKey, PhiKeyState, Tenant
from .progress import CancelToken, Progress, no_progress

if TYPE_CHECKING:
    from .auth import AuthSession
    from .workspace import Workspace

# Rows re-encrypted per transaction: each commit also checkpoints the WAL, so fewer,
# larger batches re-encrypt faster; but the batch being written and the one being read
# ahead must both fit the page cache (db.CACHE_KIB). A batch holds the write lock briefly.
BATCH = 8000


def phi_key(ws: Workspace, tenant_id: str, version: int) -> bytes:
    """The key material of one PHI key version (from the keyring, cached)."""
    return ws.keys.require(phi_slot(tenant_id, version), f"PHI key version {version}")


def active_version(s: Session, tenant_id: str) -> int:
    version = s.scalar(select(PhiKey.version).where(PhiKey.tenant_id == tenant_id,
                                                    PhiKey.state == PhiKeyState.ACTIVE))
    if version is None:
        raise KeyMissing("This tenant has no active PHI key; run 'closeplan-admin doctor'.")
    return version


def create_first_phi_key(s: Session, ws: Workspace, tenant_id: str, user_id: str | None) -> None:
    """Version 1 of a new tenant's PHI key, in the caller's transaction."""
    _new_version(s, ws, tenant_id, 1, user_id)


def _new_version(s: Session, ws: Workspace, tenant_id: str, version: int,
                 user_id: str | None) -> None:
    slot = phi_slot(tenant_id, version)
    # A crash after the keyring write but before commit leaves an unused key in the slot;
    # reuse it rather than make a second one (no row can use it yet).
    key = ws.keys.get(slot)
    if key is None:
        key = crypto.new_key()
        ws.keys.put(slot, key)
    s.add(PhiKey(tenant_id=tenant_id, version=version, state=PhiKeyState.ACTIVE,
                 created_at=utcnow()))
    log_event(s, ws, Ev.KEY_CREATED, tenant_id, user_id,
              {"key": "phi", "version": version, "fingerprint": crypto.key_check(key)[:12]})


@dataclass(frozen=True)
class KeyStatus:
    backend: str
    db_key_present: bool
    audit_key_present: bool
    phi_versions: list[tuple[int, str, int, bool]]  # version, state, rows, key present

    @property
    def pending_rows(self) -> int:
        return sum(rows for _, state, rows, _ in self.phi_versions if state != "ACTIVE")


def status(session: AuthSession) -> KeyStatus:
    """Admin use case: which keys exist, how many rows use each, whether each is present."""
    from . import auth, usecase

    ws = session.ws
    with usecase.run(session, write=False) as s:
        auth.require_admin(s, session, "keys.status")
        return _status(s, ws, session.tenant_id)


def _status(s: Session, ws: Workspace, tenant_id: str) -> KeyStatus:
    counts = dict(s.execute(select(Deal.phi_key_version, func.count())
                            .where(Deal.tenant_id == tenant_id,
                                   Deal.phi_key_version.is_not(None))
                            .group_by(Deal.phi_key_version)).all())
    versions = [(k.version, k.state.value, counts.get(k.version, 0),
                 ws.keys.get(phi_slot(tenant_id, k.version)) is not None)
                for k in s.scalars(select(PhiKey).where(PhiKey.tenant_id == tenant_id)
                                   .order_by(PhiKey.version))]
    return KeyStatus(backend_name(), ws.keys.get(DB_SLOT) is not None,
                     ws.keys.get(AUDIT_SLOT) is not None, versions)


def rotate_phi(session: AuthSession, progress: Progress = no_progress,
               cancel: CancelToken | None = None) -> int:
    """Admin use case: make a new active PHI key and re-encrypt every row under it.

    Returns the number of rows re-encrypted. If cancelled or interrupted, the rows done
    stay done and a later call (or the next open) finishes the rest.
    """
    from . import auth, usecase

    ws = session.ws
    with usecase.run(session) as s:
        auth.require_admin(s, session, "keys.rotate_phi")
        pending = _pending_rows(s, session.tenant_id)
        if not pending:
            current = active_version(s, session.tenant_id)
            old = s.get(PhiKey, (session.tenant_id, current))
            assert old is not None
            old.state = PhiKeyState.DECRYPT_ONLY
            s.flush()
            _new_version(s, ws, session.tenant_id, current + 1, session.user_id)
            log_event(s, ws, Ev.KEY_ROTATED, session.tenant_id, session.user_id,
                      {"key": "phi", "from": current, "to": current + 1})
    return reencrypt(ws, session.tenant_id, session.user_id, progress, cancel)


def _pending_rows(s: Session, tenant_id: str) -> int:
    active = active_version(s, tenant_id)
    return s.scalar(select(func.count()).select_from(Deal)
                    .where(Deal.tenant_id == tenant_id, Deal.phi_key_version.is_not(None),
                           Deal.phi_key_version != active)) or 0


def reencrypt(ws: Workspace, tenant_id: str, user_id: str | None,
              progress: Progress = no_progress, cancel: CancelToken | None = None) -> int:
    """Re-encrypt rows still under old key versions, in resumable batches; retire the
    versions no row uses any more.

    A worker process reseals each batch (`crypto.reseal_many`: the plaintext lives only
    there) while this one writes the batch before it, so the two cores share the work.
    A row changed meanwhile (an edit seals under the active key) is left as it is.
    """
    done = 0
    with db.read_session(ws.engine) as s:
        total = _pending_rows(s, tenant_id)
        active = active_version(s, tenant_id)
        old = sorted({v for v in s.scalars(select(PhiKey.version).where(
            PhiKey.tenant_id == tenant_id, PhiKey.state != PhiKeyState.RETIRED))} - {active})
    keyring = {v: phi_key(ws, tenant_id, v) for v in [active, *old]}
    progress(0, total)
    pending: tuple[int, list[Any], workers.Job] | None = None
    for version, rows in _old_batches(ws, tenant_id, old):
        if cancel:
            cancel.check()
        # One batch leaves nothing to overlap: no worker process for it.
        job = workers.Job(crypto.reseal_many, tenant_id, active, keyring,
                          [(deal_id, envelope) for _rowid, deal_id, envelope in rows],
                          here=total <= BATCH)
        if pending is not None:
            done += _write_resealed(ws, active, *pending)
            progress(done, total)
        pending = (version, rows, job)
    if pending is not None:
        done += _write_resealed(ws, active, *pending)
        progress(done, total)
    _retire_unused(ws, tenant_id, user_id)
    return done


def _old_batches(ws: Workspace, tenant_id: str,
                 versions: list[int]) -> Iterator[tuple[int, list[Any]]]:
    """(version, rows of rowid, id, envelope) still under each old version, in rowid order."""
    for version in versions:
        after = 0
        while True:
            with db.read_session(ws.engine) as s:
                rows = list(s.connection().exec_driver_sql(
                    "SELECT rowid, id, phi FROM deals WHERE tenant_id = ? AND "
                    "phi_key_version = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                    (tenant_id, version, after, BATCH)).all())
            if not rows:
                break
            yield version, rows
            after = rows[-1][0]


def _write_resealed(ws: Workspace, active: int, version: int, rows: list[Any],
                    job: workers.Job) -> int:
    envelopes = job.result()
    # One prepared statement for the batch, by rowid; the rows' updated_at is left alone.
    with db.write_session(ws.engine) as s:
        s.connection().exec_driver_sql(
            "UPDATE deals SET phi = ?, phi_key_version = ? WHERE rowid = ? AND "
            "phi_key_version = ?",
            [(envelope, active, row[0], version) for envelope, row in
             zip(envelopes, rows, strict=True)])
    return len(rows)


def _retire_unused(ws: Workspace, tenant_id: str, user_id: str | None) -> None:
    with db.write_session(ws.engine) as s:
        used = set(s.scalars(select(Deal.phi_key_version).where(
            Deal.tenant_id == tenant_id, Deal.phi_key_version.is_not(None)).distinct()))
        for key in s.scalars(select(PhiKey).where(PhiKey.tenant_id == tenant_id,
                                                  PhiKey.state == PhiKeyState.DECRYPT_ONLY)):
            if key.version not in used:
                key.state, key.retired_at = PhiKeyState.RETIRED, utcnow()
                log_event(s, ws, Ev.KEY_RETIRED, tenant_id, user_id,
                          {"key": "phi", "version": key.version})


def resume_rotation(ws: Workspace) -> None:
    """Finish, at open, any PHI re-encryption an earlier run left half-done."""
    with db.read_session(ws.engine) as s:
        tenants = [t for t in s.scalars(select(Tenant.id))
                   if s.scalar(select(PhiKey.version).where(
                       PhiKey.tenant_id == t, PhiKey.state == PhiKeyState.DECRYPT_ONLY))]
    for tenant_id in tenants:
        reencrypt(ws, tenant_id, None)


def rotate_db(session: AuthSession) -> None:
    """Admin use case: re-encrypt the whole database file under a new random key.

    Order, so that a crash at any step leaves a key that opens the file: the new key goes
    to the keyring's pending slot, then PRAGMA rekey, then the fingerprint, then the
    current slot. Opening a workspace finishes a rekey that was cut short.
    """
    from . import auth, usecase
    from .workspace import read_meta, write_meta

    ws = session.ws
    with usecase.run(session, write=False) as s:
        auth.require_admin(s, session, "keys.rotate_db")
    new = crypto.new_key()
    ws.keys.replace(DB_PENDING_SLOT, new)
    ws.engine.dispose()
    conn = db.raw_connect(ws.db_path, ws.keys.require(DB_SLOT, "database key"))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
    finally:
        conn.close()
    write_meta(ws.path, dict(read_meta(ws.path), key_check=crypto.key_check(new)))
    ws.keys.replace(DB_SLOT, new)
    ws.keys.delete(DB_PENDING_SLOT)
    ws.engine = db.make_engine(ws.db_path, new)
    with db.write_session(ws.engine) as s:
        log_event(s, ws, Ev.DB_KEY_ROTATED, session.tenant_id, session.user_id,
                  {"fingerprint": crypto.key_check(new)[:12]})


def export_kit(session: AuthSession, target: Path, passphrase: str) -> None:
    """Admin use case: write a recovery kit of every key of the workspace, sealed with a
    passphrase (Argon2id, AES-256-GCM)."""
    from . import auth, usecase

    ws = session.ws
    passphrase = validation.password(passphrase, ws.policy.password_min_length)
    target = Path(target)
    if target.is_dir() or not target.parent.is_dir():
        raise ValidationError(f"Give a file name in an existing folder for the kit: {target}.")
    with usecase.run(session) as s:
        auth.require_admin(s, session, "keys.export_kit")
        phi: dict[str, dict[str, str]] = {}
        for key in s.scalars(select(PhiKey).order_by(PhiKey.tenant_id, PhiKey.version)):
            material = ws.keys.get(phi_slot(key.tenant_id, key.version))
            if material is not None:
                phi.setdefault(key.tenant_id, {})[str(key.version)] = material.hex()
        payload: dict[str, Any] = {
            "workspace_id": ws.workspace_id,
            "db_key": ws.keys.require(DB_SLOT, "database key").hex(),
            "audit_key": ws.keys.require(AUDIT_SLOT, "audit key").hex(),
            "phi_keys": phi,
            "created_at": iso(utcnow()),
        }
        sealed = crypto.seal_kit(passphrase, payload)
        del payload
        log_event(s, ws, Ev.RECOVERY_KIT_EXPORTED, session.tenant_id, session.user_id,
                  {"file": target.name})
        # Written inside the transaction: if the file cannot be written, no event says so.
        try:
            paths.atomic_write_bytes(target, sealed)
        except OSError as exc:
            raise WorkspaceError(f"Cannot write the kit to {target} ({exc.strerror}).") from None


def import_kit(path: Path, kit: bytes, passphrase: str) -> list[str]:
    """Put a kit's keys into this machine's keyring for the workspace at `path`.

    Checks that the kit belongs to the workspace and that its database key opens the
    file before anything is written; never replaces a different key already stored.
    Returns a line per key restored.
    """
    from .workspace import DB_FILE, open_workspace, read_meta

    meta = read_meta(path)
    payload = crypto.open_kit(passphrase, kit)
    if payload.get("workspace_id") != meta["workspace_id"]:
        raise ValidationError("This recovery kit belongs to another workspace; use the kit "
                              "exported from this one.")
    try:
        db_key = bytes.fromhex(payload["db_key"])
        audit_key = bytes.fromhex(payload["audit_key"])
        phi = {t: {int(v): bytes.fromhex(k) for v, k in vs.items()}
               for t, vs in payload["phi_keys"].items()}
    except (KeyError, ValueError, AttributeError, TypeError):
        raise ValidationError("The recovery kit is damaged; its keys cannot be read.") from None
    if not db.key_opens(path / DB_FILE, db_key):
        raise CryptoError("The kit's database key does not open this workspace's database "
                          "(the database was rekeyed after the kit was made). Use a newer kit.")
    keys = KeyStore(meta["workspace_id"])
    done = []
    for slot, material in [(DB_SLOT, db_key), (AUDIT_SLOT, audit_key)] + [
            (phi_slot(t, v), k) for t, vs in phi.items() for v, k in vs.items()]:
        existing = keys.get(slot)
        if existing == material:
            continue
        if existing is not None and slot != DB_SLOT:
            raise ValidationError(f"The keyring already holds a different key for {slot}; "
                                  "nothing was replaced.")
        # The database slot may hold a stale key (that is why the kit is imported);
        # the kit's key is proven to open the file, so it replaces it.
        keys.replace(slot, material)
        done.append(slot)
    if crypto.key_check(db_key) != meta.get("key_check"):
        from .workspace import write_meta

        write_meta(path, dict(meta, key_check=crypto.key_check(db_key)))
    with open_workspace(path) as ws, db.write_session(ws.engine) as s:
        log_event(s, ws, Ev.RECOVERY_KIT_IMPORTED, None, None, {"keys_restored": len(done)})
    return done


def read_kit_file(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"Cannot read the kit file {path} ({exc.strerror}).") from None
    if len(data) > 1 << 20:
        raise ValidationError("The file is too large to be a ClosePlan recovery kit.")
    return data

