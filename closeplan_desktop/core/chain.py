"""Tamper evidence for the logs: per-device HMAC hash chains with a MAC'd head.

Each log row carries ``seq`` (1, 2, 3, ... per device and table) and ``chain_hash`` =
HMAC(audit key, previous hash, the row's fields). The audit key lives in the OS keyring,
so someone who can open the database but not the keyring cannot forge a chain. The head
(last seq and hash) is kept MAC'd in ``audit_heads`` so that cutting rows off the end is
noticed too.

Append happens inside the caller's write transaction, which holds the database's write
lock from BEGIN: sequences are never taken twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from .crypto import keyed_mac, mac, mac_message
from .models import AuditHead
from .progress import Progress

GENESIS = "0" * 64
CHAINED_TABLES = ("access_logs", "security_events")

# Columns that each chained row's hash covers, in order (the stored text forms).
CHAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    "access_logs": ("id", "user_id", "deal_id", "action", "access_type", "resource_type",
                    "success", "timestamp", "tenant_id", "device_id", "seq", "reason"),
    "security_events": ("id", "tenant_id", "user_id", "type", "detail", "timestamp",
                        "device_id", "seq"),
}


def _field(value: object) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def row_hash(key: bytes, prev: str, values: Iterable[object]) -> str:
    return mac(key, prev, *(_field(v) for v in values))


def head_mac(key: bytes, chain: str, seq: int, head_hash: str) -> str:
    return mac(key, "closeplan/audit-head/v1", chain, str(seq), head_hash)


def chain_name(table: str, device_id: str) -> str:
    return f"{table}:{device_id}"


def next_link(s: Session, key: bytes, table: str, device_id: str,
              values_without_seq: dict[str, object]) -> tuple[int, str]:
    """Take the next seq of the chain and compute the row's hash; moves the head.

    `values_without_seq` holds the row's stored text forms for every CHAIN_COLUMNS entry
    except ``seq`` (filled in here).
    """
    chain = chain_name(table, device_id)
    head = s.get(AuditHead, chain)
    seq = (head.seq if head else 0) + 1
    prev = head.head_hash if head else GENESIS
    values = dict(values_without_seq, seq=seq)
    digest = row_hash(key, prev, (values[c] for c in CHAIN_COLUMNS[table]))
    new_mac = head_mac(key, chain, seq, digest)
    if head is None:
        s.add(AuditHead(chain=chain, seq=seq, head_hash=digest, head_mac=new_mac))
    else:
        head.seq, head.head_hash, head.head_mac = seq, digest, new_mac
    return seq, digest


def next_links(s: Session, key: bytes, table: str, device_id: str,
               rows: Sequence[dict[str, object]]) -> None:
    """`next_link` for many rows at once, in order: sets each row's ``seq`` and
    ``chain_hash`` and moves the head once. Same hash as `next_link`, row by row; the
    head is read once and written once (bulk writers: imports, the benchmark fixture).

    Each row holds the stored text forms of every CHAIN_COLUMNS entry except ``seq``.
    """
    if not rows:
        return
    chain = chain_name(table, device_id)
    head = s.get(AuditHead, chain)
    seq = head.seq if head else 0
    prev = head.head_hash if head else GENESIS
    columns = CHAIN_COLUMNS[table]
    base = keyed_mac(key)
    field = _field
    for row in rows:
        seq += 1
        row["seq"] = seq
        h = base.copy()
        h.update(mac_message(prev, *[field(row[c]) for c in columns]))
        prev = h.hexdigest()
        row["chain_hash"] = prev
    new_mac = head_mac(key, chain, seq, prev)
    if head is None:
        s.add(AuditHead(chain=chain, seq=seq, head_hash=prev, head_mac=new_mac))
    else:
        head.seq, head.head_hash, head.head_mac = seq, prev, new_mac


@dataclass(frozen=True)
class ChainProblem:
    table: str
    seq: int | None
    row_id: str | None
    what: str

    def __str__(self) -> str:
        where = f"{self.table} row seq {self.seq} (id {self.row_id})" if self.row_id \
            else f"{self.table}"
        return f"{where}: {self.what}"


@dataclass(frozen=True)
class ChainReport:
    rows_checked: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(s: Session, key: bytes, progress: Progress | None = None) -> ChainReport:
    """Check every chain; name the first row that was changed, removed, inserted or moved."""
    checked = 0
    heads = {h.chain: h for h in s.query(AuditHead)}
    for table in CHAINED_TABLES:
        devices = [r[0] for r in s.execute(text(f"SELECT DISTINCT device_id FROM {table}"))]  # noqa: S608
        for chain in heads:
            t, _, dev = chain.partition(":")
            if t == table and dev not in devices:
                return ChainReport(checked, ChainProblem(
                    table, None, None, f"every row of device {dev} is missing, though its "
                    "chain head records them: the log was emptied"))
        for device in devices:
            chain = chain_name(table, device)
            # SQLite builds each row's MAC message (length-prefixed fields) in C; Python
            # only prefixes the previous hash and runs the HMAC. A row whose stored types
            # are not the ones core writes is checked field by field instead (below).
            result = s.execute(text(
                f"SELECT seq, id, {_message_sql(table)}, {_types_ok_sql(table)}, "  # noqa: S608
                f"chain_hash FROM {table} WHERE device_id = :d ORDER BY seq"
            ), {"d": device})
            prev, expected_seq = GENESIS, 1
            last_id: str | None = None
            seq_index = CHAIN_COLUMNS[table].index("seq")
            base = keyed_mac(key)
            while batch := result.fetchmany(20000):
                start = 0
                while start < len(batch):
                    problem = _check_fast(table, base, batch, start, prev, expected_seq)
                    if isinstance(problem, ChainProblem):
                        return ChainReport(checked, problem)
                    if isinstance(problem, int):  # a row to check field by field
                        checked += problem - start
                        row = _check_slow(s, table, key, device, batch[problem][0], prev,
                                          seq_index)
                        if isinstance(row, ChainProblem):
                            return ChainReport(checked, row)
                        prev, expected_seq, last_id = row
                        checked += 1
                        start = problem + 1
                        continue
                    checked += len(batch) - start
                    prev, expected_seq, found_id = problem
                    last_id = found_id or last_id
                    break
                if progress:
                    progress(checked, None)
            head = heads.get(chain)
            last_seq = expected_seq - 1
            if head is None:
                return ChainReport(checked, ChainProblem(
                    table, last_seq, last_id, "the chain has no recorded head: the head was "
                    "removed"))
            if head.head_mac != head_mac(key, chain, head.seq, head.head_hash):
                return ChainReport(checked, ChainProblem(
                    table, head.seq, None, "the chain head was altered"))
            if head.seq != last_seq or head.head_hash != prev:
                return ChainReport(checked, ChainProblem(
                    table, last_seq, last_id, f"the log ends here but its head records seq "
                    f"{head.seq}: rows were cut off the end"))
    return ChainReport(checked, None)


# The stored type of each chained column as core writes it (the MAC covers str(value)).
_INTEGER_COLUMNS = frozenset({"seq", "success"})
_NULLABLE_COLUMNS = frozenset({"reason", "tenant_id", "user_id"})


def _message_sql(table: str) -> str:
    """SQL for `mac_message` over the row's CHAIN_COLUMNS, without the leading prev."""
    parts = []
    for c in CHAIN_COLUMNS[table]:
        data = f"coalesce(CAST({c} AS BLOB), x'00')"
        parts.append(f"unhex(printf('%08x', length({data}))) || {data}")
    # `||` yields text; the CAST hands the bytes back unchanged.
    return "CAST(" + " || ".join(parts) + " AS BLOB)"


def _types_ok_sql(table: str) -> str:
    checks = []
    for c in CHAIN_COLUMNS[table]:
        kind = "integer" if c in _INTEGER_COLUMNS else "text"
        allowed = f"('{kind}', 'null')" if c in _NULLABLE_COLUMNS else f"('{kind}')"
        checks.append(f"typeof({c}) IN {allowed}")
    return "(" + " AND ".join(checks) + ")"


def _check_fast(table: str, base: object, batch: Sequence[Sequence[object]], start: int,
                prev: str, expected_seq: int) -> ChainProblem | int | tuple[str, int, str | None]:
    """Check rows (seq, id, message, types_ok, chain_hash) from `start`; an int is the
    index of a row whose stored types need the field-by-field check."""
    last_id = None
    copy = base.copy  # type: ignore[attr-defined]
    for i in range(start, len(batch)):
        seq, row_id, body, types_ok, stored = batch[i]
        if seq != expected_seq:
            what = ("rows before it were removed" if isinstance(seq, int) and seq > expected_seq
                    else "it is out of order or duplicated")
            return ChainProblem(table, seq if isinstance(seq, int) else None, str(row_id),
                                f"expected seq {expected_seq}: {what}")
        if not types_ok:
            return i
        p = prev.encode("utf-8")
        h = copy()
        h.update(len(p).to_bytes(4, "big") + p + body)
        if h.hexdigest() != stored:
            return ChainProblem(table, seq, str(row_id), "its content or position does not "
                                "match the chain: the row was changed, inserted or reordered")
        prev = str(stored)
        expected_seq += 1
        last_id = row_id
    return prev, expected_seq, None if last_id is None else str(last_id)


def _check_slow(s: Session, table: str, key: bytes, device: str, seq: object, prev: str,
                seq_index: int) -> ChainProblem | tuple[str, int, str | None]:
    """The field-by-field check (str() of each value) of one row stored with other types
    than core writes."""
    cols = ", ".join(CHAIN_COLUMNS[table])
    row = s.execute(text(
        f"SELECT {cols}, chain_hash FROM {table} WHERE device_id = :d AND seq = :s"  # noqa: S608
    ), {"d": device, "s": seq}).one()
    return _check_batch(table, key, [tuple(row)], seq_index, prev, int(seq))  # type: ignore[call-overload]


def _check_batch(table: str, key: bytes, batch: Sequence[Sequence[object]], seq_index: int,
                 prev: str, expected_seq: int) -> ChainProblem | tuple[str, int, str | None]:
    last_id = None
    for row in batch:
        values, stored = row[:-1], row[-1]
        seq, row_id = row[seq_index], str(row[0])
        if seq != expected_seq:
            what = ("rows before it were removed" if isinstance(seq, int) and seq > expected_seq
                    else "it is out of order or duplicated")
            return ChainProblem(table, seq if isinstance(seq, int) else None, row_id,
                                f"expected seq {expected_seq}: {what}")
        if row_hash(key, prev, values) != stored:
            return ChainProblem(table, seq, row_id, "its content or position does not match "
                                "the chain: the row was changed, inserted or reordered")
        prev = str(stored)
        expected_seq += 1
        last_id = row_id
    return prev, expected_seq, last_id

