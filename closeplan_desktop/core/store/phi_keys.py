"""PHI keys per tenant: their versions, their material, and re-encryption under a new one.

PHI keys are versioned per tenant: one ACTIVE (encrypts), older ones DECRYPT_ONLY until
no row uses them, then RETIRED. Key material is kept only wrapped for each local user's
key slot (`key_vault`), and in memory while a user is signed in; ``phi_keys`` records
which versions exist. Re-encryption runs in batches, each its own transaction,
so an interrupted rotation resumes where it stopped (on the next open, or the next
``rotate-phi``). The admin use cases over these are in `core.usecases.key_admin`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..domain.clock import utcnow
from ..domain.enums import PhiKeyState
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import KeyMissing
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..security.keyring_store import phi_slot
from . import db, key_vault, processes
from .audit_log import log_event
from .models import Deal, KeyGrant, PhiKey, SyncConnection, Tenant

if TYPE_CHECKING:
    from .workspace import Workspace

# Rows re-encrypted per transaction: each commit also checkpoints the WAL, so fewer,
# larger batches re-encrypt faster; but the batch being written and the one being read
# ahead must both fit the page cache (db.CACHE_KIB). A batch holds the write lock briefly.
BATCH = 8000


def phi_key(ws: Workspace, tenant_id: str, version: int) -> bytes:
    """The key material of one PHI key version, as the signed-in user's slot unlocked it
    (memory only; never read from the keyring)."""
    key = ws.keyring.held(phi_slot(tenant_id, version))
    if key is None:
        raise KeyMissing(f"PHI key version {version} is locked on this device: sign in "
                         "again. If you are signed in, an administrator must sign in here "
                         "once to share the keys with your account, or import the "
                         "recovery kit.")
    return key


def active_version(s: Session, tenant_id: str) -> int:
    """The tenant's active PHI key version (the one new envelopes are sealed with)."""
    version = s.scalar(select(PhiKey.version).where(PhiKey.tenant_id == tenant_id,
                                                    PhiKey.state == PhiKeyState.ACTIVE))
    if version is None:
        raise KeyMissing("This tenant has no active PHI key; run 'closeplan-admin doctor'.")
    return version


def create_first_phi_key(s: Session, ws: Workspace, tenant_id: str, user_id: str | None) -> None:
    """Version 1 of a new tenant's PHI key, in the caller's transaction."""
    new_version(s, ws, tenant_id, 1, user_id)


def new_version(s: Session, ws: Workspace, tenant_id: str, version: int,
                user_id: str | None, key: bytes | None = None) -> None:
    """Add `version` as the tenant's active PHI key (the caller demotes the old one);
    `key` is its material when made elsewhere first (an online rotation), else new."""
    # Held in memory and wrapped for every key slot in this transaction: the key exists
    # exactly when its row does.
    key = key or crypto.new_key()
    ws.keyring.remember(phi_slot(tenant_id, version), key)
    s.add(PhiKey(tenant_id=tenant_id, version=version, state=PhiKeyState.ACTIVE,
                 created_at=utcnow()))
    s.flush()
    key_vault.grant_held(s, ws)
    log_event(s, ws, Ev.KEY_CREATED, tenant_id, user_id,
              {"key": "phi", "version": version, "fingerprint": crypto.key_check(key)[:12]})


def pending_rows(s: Session, tenant_id: str) -> int:
    """How many of the tenant's rows are still under an older key version."""
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
        total = pending_rows(s, tenant_id)
        active = active_version(s, tenant_id)
        old = sorted({v for v in s.scalars(select(PhiKey.version).where(
            PhiKey.tenant_id == tenant_id, PhiKey.state != PhiKeyState.RETIRED))} - {active})
    keyring = {v: phi_key(ws, tenant_id, v) for v in [active, *old]}
    progress(0, total)
    pending: tuple[int, list[Any], processes.Job] | None = None
    for version, rows in _old_batches(ws, tenant_id, old):
        if cancel:
            cancel.check()
        # One batch leaves nothing to overlap: no worker process for it.
        job = processes.Job(crypto.reseal_many, tenant_id, active, keyring,
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
                    job: processes.Job) -> int:
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
    """Retire the versions no row uses and delete their grants: removed PHI must not stay
    recoverable (issue 13, finding 6)."""
    retired = []
    with db.write_session(ws.engine) as s:
        used = set(s.scalars(select(Deal.phi_key_version).where(
            Deal.tenant_id == tenant_id, Deal.phi_key_version.is_not(None)).distinct()))
        for key in s.scalars(select(PhiKey).where(PhiKey.tenant_id == tenant_id,
                                                  PhiKey.state == PhiKeyState.DECRYPT_ONLY)):
            if key.version not in used:
                key.state, key.retired_at = PhiKeyState.RETIRED, utcnow()
                log_event(s, ws, Ev.KEY_RETIRED, tenant_id, user_id,
                          {"key": "phi", "version": key.version})
                retired.append(key.version)
                s.execute(delete(KeyGrant).where(
                    KeyGrant.name == phi_slot(tenant_id, key.version)))
    for version in retired:
        ws.keyring.delete(phi_slot(tenant_id, version))  # an older workspace's plain key


def resume_rotation(ws: Workspace) -> None:
    """Finish any PHI re-encryption an earlier run left half-done (at sign-in: the keys
    are locked before). Not in a connected workspace: there a rotation is online and
    re-encrypts nothing (the server's envelopes stay as they are, and every device keeps
    the older versions to open them)."""
    with db.read_session(ws.engine) as s:
        if s.get(SyncConnection, 1) is not None:
            return
        tenants = [t for t in s.scalars(select(Tenant.id))
                   if s.scalar(select(PhiKey.version).where(
                       PhiKey.tenant_id == t, PhiKey.state == PhiKeyState.DECRYPT_ONLY))]
    for tenant_id in tenants:
        reencrypt(ws, tenant_id, None)
