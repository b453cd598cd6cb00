"""Audit upload: a device's chained log rows, in seq order, in signed batches (SYNC.md,
"Audit upload").

The device signs core.domain.audit_batch.batch_message over (tenant, device, table,
first seq, last seq, last chain hash, SHA-256 of the canonical rows) with its Ed25519
key. The server checks, in this order, writing nothing unless all pass:
- the table, the batch's shape and every row's fields (bounded, enums valid, the rows'
  device and seq those of the batch, timestamps sane);
- the device: the caller's own and ACTIVE (read under the tenant's write lock, so
  uploads are serialised);
- contiguity: first_seq is the stored last seq + 1 for (device, table); a gap or an
  overlap is a 409 with `expected_seq`, except an exact replay of a stored batch, which
  answers that batch's stored receipt (idempotent);
- the signature, with the key the device enrolled with;
- the rows' users, which must be users of this tenant;
then stores the rows, the batch and a receipt signed by the server key, and returns the
receipt (which the device keeps; `audit verify` checks it).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import errors as pg_errors
from psycopg import sql

from ...core.domain import audit_batch as ab
from ...core.domain import validation
from ...core.domain.clock import iso, utcnow
from ...core.domain.enums import AccessAction, AccessType, SecurityEventType
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id, new_id
from ..caller import Caller
from ..db.pool import Connection
from ..devices.registry import active_device, begin_write
from ..errors import ApiError, bad_request, conflict, forbidden
from ..keys.signing import SigningKey, verify

HASH_RE = re.compile(r"^[0-9a-f]{64}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")  # clock.iso
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # a laptop's clock may run ahead; more is not sane
MAX_DEAL_ID = 100
MAX_RESOURCE_TYPE = 64
MAX_DETAIL = 8000
MAX_SEQ = 2**62


@dataclass(frozen=True)
class BatchIn:
    """A batch as the device sends it (signature decoded from base64)."""

    device_id: str
    table: str
    first_seq: int
    last_seq: int
    last_chain_hash: str
    signature: bytes
    rows: Sequence[Mapping[str, Any]]


def upload(conn: Connection, caller: Caller, key: SigningKey, batch: BatchIn
           ) -> dict[str, Any]:
    """Check and store one batch of the caller's device; returns the signed receipt."""
    _check_shape(caller, batch)
    for i, row in enumerate(batch.rows):
        _check_row(caller, batch, i, row)
    if batch.device_id != caller.device_id:
        raise forbidden("not_your_device", "A device uploads only its own audit rows; sign "
                        "in from that device.")
    begin_write(conn, caller)  # uploads of one tenant in turn: `expected` stays true
    device_id, sign_public = active_device(conn, caller)
    message = ab.batch_message(caller.tenant_id, device_id, batch.table, batch.first_seq,
                               batch.last_seq, batch.last_chain_hash,
                               ab.rows_digest(batch.table, batch.rows))
    digest = ab.batch_hash(message)
    last = conn.execute("SELECT max(last_seq) FROM audit_batches WHERE tenant_id = %s AND "
                        "device_id = %s AND table_name = %s",
                        (caller.tenant_id, device_id, batch.table)).fetchone()
    expected = (last[0] if last and last[0] is not None else 0) + 1
    if batch.first_seq != expected:
        stored = _replay(conn, caller, batch, digest)
        if stored is not None and verify(sign_public, message, batch.signature):
            return stored
        word = "gap" if batch.first_seq > expected else "overlap"
        raise conflict(f"audit_{word}", f"This batch starts at seq {batch.first_seq}, but "
                       f"the server expects seq {expected} next; upload from there.",
                       expected_seq=expected)
    if not verify(sign_public, message, batch.signature):
        raise forbidden("bad_signature", "The batch's signature does not verify with this "
                        "device's enrolled key; nothing was stored.")
    _check_users(conn, caller, batch)
    return _store(conn, caller, key, batch, digest)


def _check_shape(caller: Caller, batch: BatchIn) -> None:
    if batch.table not in ab.TABLES:
        raise bad_request("invalid_table", f"table must be one of {', '.join(ab.TABLES)}.")
    for name, seq in (("first_seq", batch.first_seq), ("last_seq", batch.last_seq)):
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
            raise bad_request("invalid_batch", f"{name} must be a positive whole number.")
    count = batch.last_seq - batch.first_seq + 1
    if count < 1 or count > ab.MAX_ROWS or count != len(batch.rows):
        raise bad_request("invalid_batch", "A batch holds the rows first_seq..last_seq, in "
                          f"order, at most {ab.MAX_ROWS}; this one does not.")
    if not isinstance(batch.last_chain_hash, str) or not HASH_RE.match(batch.last_chain_hash):
        raise bad_request("invalid_batch", "last_chain_hash must be 64 hexadecimal digits.")
    if batch.rows[-1].get("chain_hash") != batch.last_chain_hash:
        raise bad_request("invalid_batch", "last_chain_hash is not the last row's chain hash.")


def _row_error(i: int, field: str, what: str) -> ApiError:
    return bad_request("invalid_row", f"Row {i + 1}, {field}: {what}", index=i, field=field)


def _exact_text(i: int, row: Mapping[str, Any], field: str, max_len: int, *,
                required: bool, newlines: bool = False) -> None:
    value = row.get(field)
    if value is None and not required:
        return
    try:
        clean = validation.text(value, field, max_len=max_len, required=required,
                                allow_newlines=newlines)
    except ValidationError as e:
        raise _row_error(i, field, str(e)) from None
    if clean != value:
        raise _row_error(i, field, "must be trimmed text in NFC, as the device stored it.")


def _check_row(caller: Caller, batch: BatchIn, i: int, row: Mapping[str, Any]) -> None:
    if not isinstance(row, Mapping):
        raise bad_request("invalid_row", f"Row {i + 1} is not an object.", index=i)
    fields = ab.ROW_FIELDS[batch.table]
    extra = set(row) - set(fields)
    if extra:
        raise _row_error(i, sorted(extra)[0], f"is not a field of {batch.table}.")
    if not is_id(row.get("id")):
        raise _row_error(i, "id", "must be an id made by ClosePlan.")
    if row.get("device_id") != batch.device_id:
        raise _row_error(i, "device_id", "must be the uploading device's id.")
    seq = row.get("seq")
    if type(seq) is not int or seq != batch.first_seq + i:  # not 3.0, not True
        raise _row_error(i, "seq", f"must be {batch.first_seq + i} (rows go in seq order).")
    hash_ = row.get("chain_hash")
    if not isinstance(hash_, str) or not HASH_RE.match(hash_):
        raise _row_error(i, "chain_hash", "must be 64 lowercase hexadecimal digits.")
    _check_time(i, row.get("timestamp"))
    tenant = row.get("tenant_id")
    if tenant != caller.tenant_id and not (batch.table == "security_events" and tenant is None):
        raise _row_error(i, "tenant_id", "must be your organisation's id.")
    if batch.table == "access_logs":
        if not is_id(row.get("user_id")):
            raise _row_error(i, "user_id", "must be a user id.")
        _exact_text(i, row, "deal_id", MAX_DEAL_ID, required=False)
        _enum(i, row, "action", AccessAction)
        _enum(i, row, "access_type", AccessType)
        _exact_text(i, row, "resource_type", MAX_RESOURCE_TYPE, required=True)
        if not isinstance(row.get("success"), bool):
            raise _row_error(i, "success", "must be true or false.")
        _exact_text(i, row, "reason", validation.MAX_REASON, required=False)
    else:
        if row.get("user_id") is not None and not is_id(row.get("user_id")):
            raise _row_error(i, "user_id", "must be a user id or null.")
        _enum(i, row, "type", SecurityEventType)
        _exact_text(i, row, "detail", MAX_DETAIL, required=True, newlines=True)


def _enum(i: int, row: Mapping[str, Any], field: str, kind: type[Any]) -> None:
    value = row.get(field)
    if not isinstance(value, str) or value not in {m.value for m in kind}:
        raise _row_error(i, field, f"must be one of {', '.join(m.value for m in kind)}.")


def _check_time(i: int, value: Any) -> None:
    if not isinstance(value, str) or not TIME_RE.match(value):
        raise _row_error(i, "timestamp", "must be a UTC time such as "
                         "2026-01-31T09:30:00.000000Z.")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _row_error(i, "timestamp", "is not a real date and time.") from None
    if not EARLIEST <= when <= utcnow() + CLOCK_SKEW:
        raise _row_error(i, "timestamp", "is before 2000 or in the future; check the "
                         "device's clock.")


def _check_users(conn: Connection, caller: Caller, batch: BatchIn) -> None:
    wanted = {r["user_id"] for r in batch.rows if r.get("user_id") is not None}
    found = {r[0] for r in conn.execute("SELECT id FROM users WHERE tenant_id = %s AND "
                                        "id = ANY(%s)", (caller.tenant_id, list(wanted)))}
    for i, r in enumerate(batch.rows):
        if r.get("user_id") is not None and r["user_id"] not in found:
            raise _row_error(i, "user_id", "is not a user of your organisation.")


def _replay(conn: Connection, caller: Caller, batch: BatchIn, digest: bytes
            ) -> dict[str, Any] | None:
    """The stored receipt of this very batch (same start, end and hash), else None."""
    row = conn.execute(
        "SELECT r.receipt, r.signature FROM audit_batches b JOIN audit_receipts r ON "
        "r.tenant_id = b.tenant_id AND r.batch_id = b.id WHERE b.tenant_id = %s AND "
        "b.device_id = %s AND b.table_name = %s AND b.first_seq = %s AND b.last_seq = %s "
        "AND b.batch_hash = %s",
        (caller.tenant_id, batch.device_id, batch.table, batch.first_seq, batch.last_seq,
         digest)).fetchone()
    if row is None:
        return None
    receipt: dict[str, Any] = json.loads(bytes(row[0]))
    receipt["signature"] = base64.b64encode(bytes(row[1])).decode("ascii")
    return receipt


def _store(conn: Connection, caller: Caller, key: SigningKey, batch: BatchIn,
           digest: bytes) -> dict[str, Any]:
    fields = ab.ROW_FIELDS[batch.table]
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(batch.table), sql.SQL(", ").join(map(sql.Identifier, fields)),
        sql.SQL(", ").join(sql.SQL("%s::timestamptz" if f == "timestamp" else "%s")
                           for f in fields))
    values = [tuple(caller.tenant_id if f == "tenant_id" else r.get(f) for f in fields)
              for r in batch.rows]
    try:
        with conn.cursor() as cur:
            cur.executemany(insert, values)
    except pg_errors.UniqueViolation:
        raise conflict("audit_row_exists", "A row of this batch has an id the server "
                       "already holds; nothing was stored.") from None
    received = conn.execute("SELECT clock_timestamp()").fetchone()
    assert received is not None
    batch_id = new_id()
    conn.execute("INSERT INTO audit_batches (tenant_id, id, device_id, table_name, first_seq, "
                 "last_seq, last_chain_hash, batch_hash, signature, received_at) VALUES "
                 "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 (caller.tenant_id, batch_id, batch.device_id, batch.table, batch.first_seq,
                  batch.last_seq, batch.last_chain_hash, digest, batch.signature,
                  received[0]))
    received_at = iso(received[0])
    receipt: dict[str, Any] = {"tenant_id": caller.tenant_id, "device_id": batch.device_id,
               "table": batch.table, "first_seq": batch.first_seq,
               "last_seq": batch.last_seq, "batch_hash": digest.hex(),
               "received_at": received_at, "server_key_id": key.key_id}
    signature = key.sign(ab.receipt_message(
        caller.tenant_id, batch.device_id, batch.table, batch.first_seq, batch.last_seq,
        digest, received_at, key.key_id))
    conn.execute("INSERT INTO audit_receipts (tenant_id, batch_id, server_key_id, receipt, "
                 "signature) VALUES (%s, %s, %s, %s, %s)",
                 (caller.tenant_id, batch_id, key.key_id,
                  json.dumps(receipt, sort_keys=True).encode(), signature))
    return {**receipt, "signature": base64.b64encode(signature).decode("ascii")}
