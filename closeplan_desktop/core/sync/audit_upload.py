"""Audit upload (issue 12; SYNC.md, "Audit upload"): every `access_logs` and
`security_events` row this device wrote reaches the server exactly once, in seq order, in
batches signed with the device key over core.domain.audit_batch's canonical bytes.

Per chain, `audit_upload` holds the next seq to send and the batch in flight. A batch is
marked in flight (committed) before it is posted and sent again exactly as it was until
its receipt is stored, so a crash or a lost answer ends in the server's replay of the
stored receipt, never in a second copy. A receipt is stored only when it verifies with
the pinned server key and names the batch that was sent. A 409 whose `expected_seq` is
behind resumes from there; one ahead of this database (the server holds rows it has no
receipt for: a copied-back older file) stops with AuditUploadError, and the server keeps
what it has. The lead wires `upload` into the sync engine; it takes the HTTP `post`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain import audit_batch as ab
from ..domain.errors import AuditUploadError, ServerRefused
from ..security.signatures import sign_b64
from ..store import db, receipts
from ..store.workspace import Workspace

# post(path, json body) -> the JSON answer; raises ServerRefused on a refusal.
Post = Callable[[str, dict[str, Any]], dict[str, Any]]
PATH = "/v1/audit/batches"


@dataclass
class Uploaded:
    """What one `upload` sent: rows per table, and batches (replays included)."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ab.TABLES, 0))
    batches: int = 0


def upload(ws: Workspace, post: Post, device_key: Ed25519PrivateKey, server_key: bytes,
           tenant_id: str, *, batch_rows: int = ab.MAX_ROWS) -> Uploaded:
    """Upload every row of this device not uploaded yet, both chains, in seq order."""
    done = Uploaded()
    for table in ab.TABLES:
        while _one_batch(ws, post, device_key, server_key, tenant_id, table,
                         min(batch_rows, ab.MAX_ROWS), done):
            pass
    return done


def _one_batch(ws: Workspace, post: Post, device_key: Ed25519PrivateKey, server_key: bytes,
               tenant_id: str, table: str, size: int, done: Uploaded) -> bool:
    """Send the next batch of `table` (the one in flight first); False when none is left."""
    device = ws.device_id
    with db.write_session(ws.engine) as s:
        pos = receipts.position(s, device, table)
        first = pos.next_seq
        last = pos.pending_last or min(first + size - 1, receipts.last_seq(s, table, device))
        if last < first:
            return False
        batch = receipts.rows(s, table, device, first, last)
        if len(batch) != last - first + 1:
            raise AuditUploadError(f"The {table} rows seq {first}..{last} of this laptop are "
                                   "not all in its database any more; they cannot be "
                                   "uploaded. Ask IT to check this laptop.")
        pos.pending_last = last
    message = receipts.batch_message(tenant_id, device, table, batch)
    last_hash = str(batch[-1]["chain_hash"])
    body = {"device_id": device, "table": table, "first_seq": first, "last_seq": last,
            "last_chain_hash": last_hash, "signature": sign_b64(device_key, message),
            "rows": batch}
    try:
        receipt = post(PATH, body)
    except ServerRefused as refused:
        expected = refused.details.get("expected_seq")
        if refused.status != 409 or not isinstance(expected, int) or isinstance(expected, bool):
            raise
        if expected == first:  # "send what you sent": a server not to argue with
            raise
        return _resume(ws, table, first, expected)
    expected_receipt = {"tenant_id": tenant_id, "device_id": device, "table": table,
                        "first_seq": first, "last_seq": last,
                        "batch_hash": ab.batch_hash(message).hex()}
    if any(receipt.get(k) != v for k, v in expected_receipt.items()):
        raise AuditUploadError("The server's receipt does not name the batch this laptop "
                               "sent; nothing was marked as uploaded. Ask IT to check the "
                               "server.")
    if not receipts.receipt_verifies(server_key, receipt):
        raise AuditUploadError("The server's receipt is not signed by the server key this "
                               "laptop pinned at enrolment; nothing was marked as uploaded. "
                               "Ask IT to check the server.")
    with db.write_session(ws.engine) as s:
        receipts.store(s, receipt, last_hash)
        pos = receipts.position(s, device, table)
        pos.next_seq, pos.pending_last = last + 1, None
    done.rows[table] += len(batch)
    done.batches += 1
    return True


def _resume(ws: Workspace, table: str, sent: int, expected: int) -> bool:
    """After a 409: go on from `expected` when the server is behind what was sent;
    stop when it holds rows this database has no receipt for."""
    if expected > sent:
        raise AuditUploadError(
            f"The server already holds this laptop's {table} rows up to seq {expected - 1}, "
            f"but this database has receipts only up to seq {sent - 1} (was an older copy "
            "of it put back?). Nothing was uploaded; the server keeps its rows. Ask IT to "
            "check this laptop.")
    with db.write_session(ws.engine) as s:
        pos = receipts.position(s, ws.device_id, table)
        pos.next_seq, pos.pending_last = max(1, expected), None
    return True
