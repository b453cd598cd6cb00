"""The bytes both sides sign for audit upload, wipe orders and receipts (SYNC.md, "Audit
upload", "Revocation").

A device uploads a run of one of its chained tables (`access_logs`, `security_events`)
and signs `batch_message(...)` with its Ed25519 key; the server answers with a receipt
over `receipt_message(...)` signed by its own key, and a revoked device receives a wipe
order over `wipe_order_message(...)`. Only the canonical bytes live here (standard
library only, so the desktop and the server import the same code); signing and
verifying are the server's `keys.signing` and, later, core.security's.

Encoding: each field is a tag byte (0 = null, 1 = text) and, for text, its UTF-8 length
(4 bytes, big-endian) and bytes; integers in decimal, booleans "1"/"0". Every message
starts with its own purpose string, so a signature over one kind never passes as another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

TABLES = ("access_logs", "security_events")
MAX_ROWS = 1000  # rows in one batch

# The fields of an uploaded row, in the order they are encoded: each table's chained
# columns (core.store.chain.CHAIN_COLUMNS) plus the chain hash itself.
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "access_logs": ("id", "user_id", "deal_id", "action", "access_type", "resource_type",
                    "success", "timestamp", "tenant_id", "device_id", "seq", "reason",
                    "chain_hash"),
    "security_events": ("id", "tenant_id", "user_id", "type", "detail", "timestamp",
                        "device_id", "seq", "chain_hash"),
}

BATCH_PURPOSE = "closeplan/audit-batch/v1"
RECEIPT_PURPOSE = "closeplan/audit-receipt/v1"
WIPE_PURPOSE = "closeplan/wipe-order/v1"

Field = str | int | bool | None


def encode(*fields: Field) -> bytes:
    """The canonical bytes of a sequence of fields (see the module docstring)."""
    out = []
    for value in fields:
        if value is None:
            out.append(b"\x00")
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            raise TypeError(f"cannot encode a {type(value).__name__}")
        data = text.encode("utf-8")
        out.append(b"\x01" + len(data).to_bytes(4, "big") + data)
    return b"".join(out)


def rows_digest(table: str, rows: Iterable[Mapping[str, Field]]) -> bytes:
    """SHA-256 of a batch's rows: the table name, then each row's fields in ROW_FIELDS
    order (a missing field counts as null)."""
    fields = ROW_FIELDS[table]
    digest = hashlib.sha256(encode(table))
    for row in rows:
        digest.update(encode(*(row.get(f) for f in fields)))
    return digest.digest()


def batch_message(tenant_id: str, device_id: str, table: str, first_seq: int, last_seq: int,
                  last_chain_hash: str, rows_sha256: bytes) -> bytes:
    """What the device signs for one batch."""
    return encode(BATCH_PURPOSE, tenant_id, device_id, table, first_seq, last_seq,
                  last_chain_hash, rows_sha256.hex())


def batch_hash(message: bytes) -> bytes:
    """The batch's identity in receipts and in `audit_batches.batch_hash`."""
    return hashlib.sha256(message).digest()


def receipt_message(tenant_id: str, device_id: str, table: str, first_seq: int,
                    last_seq: int, batch_sha256: bytes, received_at: str,
                    server_key_id: str) -> bytes:
    """What the server signs in a receipt (`received_at` in core.domain.clock.iso form)."""
    return encode(RECEIPT_PURPOSE, tenant_id, device_id, table, first_seq, last_seq,
                  batch_sha256.hex(), received_at, server_key_id)


def wipe_order_message(tenant_id: str, device_id: str, revoked_at: str, reason: str) -> bytes:
    """What the server signs in a revoked device's wipe order (`revoked_at` in iso form)."""
    return encode(WIPE_PURPOSE, tenant_id, device_id, revoked_at, reason)
