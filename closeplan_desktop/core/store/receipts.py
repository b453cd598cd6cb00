"""The server's signed receipts of this device's uploaded audit rows, and where each
chain's upload stands (issue 12, "Audit upload"; the upload itself is
core.sync.audit_upload).

A receipt says: the server received rows first..last of one chain as the batch whose hash
it names, and signed that with its key. `problems` checks each stored receipt against the
server key pinned at connect (`pinned_server_key`) and against the rows this database
holds now, so that a row altered or removed after it was uploaded is reported by `audit
verify`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import audit_batch as ab
from ..domain.clock import iso
from ..security.signatures import verifies_b64
from .models import AccessLog, AuditReceipt, AuditUpload, SecurityEvent, SyncConnection

MODELS: dict[str, Any] = {"access_logs": AccessLog, "security_events": SecurityEvent}


def pin_server_key(s: Session, public: bytes) -> None:
    """Pin the server's signing key (raw Ed25519, 32 bytes) in the connection row, in the
    caller's transaction (the row must exist)."""
    if len(public) != 32:
        raise ValueError("a server signing key is 32 bytes")
    row = s.get(SyncConnection, 1)
    if row is None:
        raise ValueError("no server connection to pin a key for")
    row.server_key = base64.b64encode(public).decode("ascii")


def pinned_server_key(s: Session) -> bytes | None:
    """The pinned server signing key, or None while standalone.

    The database is its one home (`sync_connection.server_key`): it is not secret, the
    database is as hard to alter as the keyring (SQLCipher, keyed from the keyring), and
    it travels with the workspace, so a copy or a restore onto another keyring checks
    receipts and wipe orders with the key it was connected with, never one fetched
    again. (Earlier versions kept a copy in the keyring; a wipe still deletes it.)"""
    row = s.get(SyncConnection, 1)
    return key_of(row)


def key_of(row: SyncConnection | None) -> bytes | None:
    """The server signing key a connection row pinned (None: none)."""
    if row is None or not row.server_key:
        return None
    return base64.b64decode(row.server_key)


def wire_row(table: str, row: Any) -> dict[str, ab.Field]:
    """A stored chained row in the form it is uploaded (and hashed) in."""
    out: dict[str, ab.Field] = {}
    for name in ab.ROW_FIELDS[table]:
        value = getattr(row, name)
        if name == "timestamp":
            value = iso(value)
        elif hasattr(value, "value"):  # an enum member: its stored text
            value = value.value
        out[name] = value
    return out


def rows(s: Session, table: str, device_id: str, first: int, last: int
         ) -> list[dict[str, ab.Field]]:
    """This device's rows first..last of `table` in seq order (fewer when some are gone)."""
    model = MODELS[table]
    found = s.scalars(select(model).where(model.device_id == device_id, model.seq >= first,
                                          model.seq <= last).order_by(model.seq)).all()
    return [wire_row(table, r) for r in found]


def last_seq(s: Session, table: str, device_id: str) -> int:
    """The last seq of this device's chain in `table` (0 when empty)."""
    model = MODELS[table]
    found = s.scalar(select(model.seq).where(model.device_id == device_id)
                     .order_by(model.seq.desc()).limit(1))
    return int(found or 0)


def position(s: Session, device_id: str, table: str) -> AuditUpload:
    """Where the upload of this chain stands (made at seq 1 the first time)."""
    pos = s.get(AuditUpload, (device_id, table))
    if pos is None:
        pos = AuditUpload(device_id=device_id, table_name=table, next_seq=1, pending_last=None)
        s.add(pos)
        s.flush()
    return pos


def batch_message(tenant_id: str, device_id: str, table: str,
                  batch: list[dict[str, ab.Field]]) -> bytes:
    """What the device signs for `batch` (its rows in seq order, at least one)."""
    last_hash = batch[-1]["chain_hash"]
    assert isinstance(last_hash, str)
    first, last = batch[0]["seq"], batch[-1]["seq"]
    assert isinstance(first, int) and isinstance(last, int)
    return ab.batch_message(tenant_id, device_id, table, first, last, last_hash,
                            ab.rows_digest(table, batch))


def receipt_verifies(public: bytes, receipt: Mapping[str, Any]) -> bool:
    """True when `receipt` (as the server sent it, or as stored) is signed by `public`."""
    try:
        message = ab.receipt_message(
            str(receipt["tenant_id"]), str(receipt["device_id"]), str(receipt["table"]),
            int(receipt["first_seq"]), int(receipt["last_seq"]),
            bytes.fromhex(str(receipt["batch_hash"])), str(receipt["received_at"]),
            str(receipt["server_key_id"]))
    except (KeyError, TypeError, ValueError):
        return False
    return verifies_b64(public, message, receipt.get("signature"))


def store(s: Session, receipt: Mapping[str, Any], last_chain_hash: str) -> None:
    """Keep a receipt that was checked (`receipt_verifies`, and the batch it names)."""
    s.merge(AuditReceipt(
        device_id=str(receipt["device_id"]), table_name=str(receipt["table"]),
        first_seq=int(receipt["first_seq"]), batch_hash=str(receipt["batch_hash"]),
        last_seq=int(receipt["last_seq"]), tenant_id=str(receipt["tenant_id"]),
        last_chain_hash=last_chain_hash, received_at=str(receipt["received_at"]),
        server_key_id=str(receipt["server_key_id"]), signature=str(receipt["signature"])))


def as_receipt(r: AuditReceipt) -> dict[str, Any]:
    """A stored receipt in the form the server sent it."""
    return {"tenant_id": r.tenant_id, "device_id": r.device_id, "table": r.table_name,
            "first_seq": r.first_seq, "last_seq": r.last_seq, "batch_hash": r.batch_hash,
            "received_at": r.received_at, "server_key_id": r.server_key_id,
            "signature": r.signature}


@dataclass(frozen=True)
class ReceiptProblem:
    """A receipt that does not verify, or local rows that no longer match it."""

    table: str
    first_seq: int
    last_seq: int
    what: str

    def __str__(self) -> str:
        return f"{self.table} rows seq {self.first_seq}..{self.last_seq}: {self.what}"


def problems(s: Session) -> tuple[int, list[ReceiptProblem]]:
    """Check every stored receipt: its signature against the pinned server key, and that
    the local rows it covers still hash to the batch it names. Returns (receipts checked,
    problems found)."""
    stored = s.scalars(select(AuditReceipt).order_by(
        AuditReceipt.table_name, AuditReceipt.first_seq)).all()
    if not stored:
        return 0, []
    public = pinned_server_key(s)
    found: list[ReceiptProblem] = []
    for r in stored:
        def problem(what: str, r: AuditReceipt = r) -> None:
            found.append(ReceiptProblem(r.table_name, r.first_seq, r.last_seq, what))
        if r.table_name not in MODELS:
            problem("the receipt names a table that holds no audit rows")
            continue
        if public is None:
            problem("no server key is pinned in this workspace to check the server's "
                    "receipt")
            continue
        if not receipt_verifies(public, as_receipt(r)):
            problem("the server's receipt does not verify with the pinned server key")
            continue
        batch = rows(s, r.table_name, r.device_id, r.first_seq, r.last_seq)
        if len(batch) != r.last_seq - r.first_seq + 1:
            problem("rows uploaded to the server were removed from this database since")
            continue
        message = batch_message(r.tenant_id, r.device_id, r.table_name, batch)
        if ab.batch_hash(message).hex() != r.batch_hash:
            problem("rows uploaded to the server were altered in this database since")
    return len(stored), found
