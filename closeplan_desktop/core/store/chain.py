"""Tamper evidence for the logs: per-device HMAC hash chains with a MAC'd head.

Each log row carries ``seq`` (1, 2, 3, ... per device and table) and ``chain_hash`` =
HMAC(audit key, previous hash, the row's fields). The audit key lives in the OS keyring,
so someone who can open the database but not the keyring cannot forge a chain. The head
(last seq and hash) is kept MAC'd in ``audit_heads`` so that cutting rows off the end is
noticed too. Each write transaction that appends also moves a monotonic counter
(``workspace_meta`` row `COUNTER`) and MACs every head with it, so that an older head
cannot be put back beside newer ones; `core.store.anchor` keeps the counter and each
chain's position outside the database, where a copied-back older file cannot reach.

Append happens inside the caller's write transaction, which holds the database's write
lock from BEGIN: sequences are never taken twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..domain.progress import Progress
from ..security.crypto import hmac_hex, mac, mac_message
from . import processes
from .models import AuditHead, Meta

GENESIS = "0" * 64
COUNTER = "audit_counter"  # workspace_meta key of the chains' monotonic counter
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


def head_mac(key: bytes, chain: str, seq: int, head_hash: str,
             counter: int | None = None) -> str:
    """The MAC of a chain head; with the counter bound in (v2), or without (v1: heads
    written before the counter existed, accepted only while the database has none)."""
    if counter is None:
        return mac(key, "closeplan/audit-head/v1", chain, str(seq), head_hash)
    return mac(key, "closeplan/audit-head/v2", chain, str(seq), head_hash, str(counter))


def stored_counter(s: Session) -> int | None:
    """The database's chain counter, or None when no head was written since it exists."""
    row = s.get(Meta, COUNTER)
    return int(row.value) if row is not None else None


_TX = "closeplan_chain_tx"  # Session.info: (transaction, counter, moved heads)


def _transaction_counter(s: Session, key: bytes) -> tuple[int, dict[str, Any]]:
    """This transaction's counter, moved once at its first append, with every head
    MAC'd again under it; and the heads moved so far (for the anchor, after commit)."""
    tx = s.get_transaction()
    held = s.info.get(_TX)
    if held is not None and held[0] is tx:
        return held[1], held[2]
    row = s.get(Meta, COUNTER)
    counter = (int(row.value) if row is not None else 0) + 1
    if row is None:
        s.add(Meta(key=COUNTER, value=str(counter)))
    else:
        row.value = str(counter)
    for head in s.query(AuditHead):
        head.head_mac = head_mac(key, head.chain, head.seq, head.head_hash, counter)
    moves: dict[str, Any] = {}
    s.info[_TX] = (tx, counter, moves)
    return counter, moves


def take_moves(s: Session) -> tuple[int, dict[str, tuple[int, str, str | None]]] | None:
    """The counter and the heads (seq, hash, genesis if the chain began) the session's
    transaction moved, cleared; None when it appended nothing."""
    held = s.info.pop(_TX, None)
    return None if held is None else (held[1], held[2])


def _move_head(s: Session, key: bytes, chain: str, head: AuditHead | None, seq: int,
               digest: str, first: str | None) -> None:
    counter, moves = _transaction_counter(s, key)
    new_mac = head_mac(key, chain, seq, digest, counter)
    if head is None:
        s.add(AuditHead(chain=chain, seq=seq, head_hash=digest, head_mac=new_mac))
    else:
        head.seq, head.head_hash, head.head_mac = seq, digest, new_mac
    genesis = moves[chain][2] if chain in moves else first
    moves[chain] = (seq, digest, genesis)


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
    _move_head(s, key, chain, head, seq, digest, digest if seq == 1 else None)
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
    digest = hmac_hex(key)
    field = _field
    first = None
    for row in rows:
        seq += 1
        row["seq"] = seq
        prev = digest(mac_message(prev, *[field(row[c]) for c in columns]))
        row["chain_hash"] = prev
        if seq == 1:
            first = prev
    _move_head(s, key, chain, head, seq, prev, first)


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
    ranges_in_workers: int = 0  # ranges worker processes checked (long chains)
    receipts_checked: int = 0  # the server's receipts of uploaded rows (core.store.receipts)

    @property
    def ok(self) -> bool:
        return self.problem is None


# A chain longer than `parallel_from` rows is checked as VERIFY_RANGES seq ranges at
# once: a row's check needs only the stored hash of the row before it. The first range is
# checked here, the others in worker processes (threads would share one interpreter
# lock, and the scan is half Python), each on its own read connection.
VERIFY_RANGES = max(1, min(2, os.cpu_count() or 1))
PARALLEL_FROM = 200_000
_FETCH = 20_000
_MAX_INT = 2**63 - 1


@dataclass
class _Range:
    """One seq range of a chain as a scan found it."""

    lo: int
    hi: int | None  # None: to the end, including rows whose seq is not an integer
    checked: int = 0
    prev: str = GENESIS  # the last good row's hash
    expected_seq: int = 1
    last_id: str | None = None
    problem: ChainProblem | None = None
    in_workers: int = 0  # of the chain's ranges, how many worker processes checked


def verify(s: Session, key: bytes, progress: Progress | None = None, *,
           connect: Callable[[], Any] | None = None,
           parallel_from: int | None = None) -> ChainReport:
    """Check every chain; name the first row that was changed, removed, inserted or moved.

    With `connect` (a picklable function that opens a DB-API connection to the same
    database, `db.connector`), chains of at least `parallel_from` rows (PARALLEL_FROM)
    are checked in ranges at once, in worker processes."""
    checked = in_workers = 0
    heads = {h.chain: h for h in s.query(AuditHead)}
    counter = stored_counter(s)
    conn = s.connection().connection.dbapi_connection  # this session's snapshot
    assert conn is not None
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
            last = _verify_chain(conn, table, key, device, checked, progress, connect,
                                 PARALLEL_FROM if parallel_from is None else parallel_from)
            checked += last.checked
            in_workers += last.in_workers
            if last.problem:
                return ChainReport(checked, last.problem)
            head = heads.get(chain)
            last_seq = last.expected_seq - 1
            if head is None:
                return ChainReport(checked, ChainProblem(
                    table, last_seq, last.last_id, "the chain has no recorded head: the head "
                    "was removed"))
            if head.head_mac != head_mac(key, chain, head.seq, head.head_hash, counter):
                return ChainReport(checked, ChainProblem(
                    table, head.seq, None, "the chain head was altered"))
            if head.seq != last_seq or head.head_hash != last.prev:
                return ChainReport(checked, ChainProblem(
                    table, last_seq, last.last_id, f"the log ends here but its head records "
                    f"seq {head.seq}: rows were cut off the end"))
    return ChainReport(checked, None, in_workers)


def _verify_chain(conn: Any, table: str, key: bytes, device: str, before: int,
                  progress: Progress | None, connect: Callable[[], Any] | None,
                  parallel_from: int) -> _Range:
    """Scan one device's chain; the result's counts cover the whole chain. The ranges
    after the first run as `processes.Job`s (here, if no worker process can). If a range
    finds anything amiss, the chain is scanned again from the start in one pass, so that
    the first problem is named exactly as one pass names it."""
    top = conn.execute(
        f"SELECT seq FROM {table} WHERE device_id = ? AND seq <= {_MAX_INT} "  # noqa: S608
        "ORDER BY seq DESC LIMIT 1", (device,)).fetchone()
    top = top[0] if top else 0

    def one_pass() -> _Range:
        whole = _Range(1, None)
        _scan_range(conn, table, key, device, whole,
                    lambda n: progress and progress(before + n, None))
        return whole

    parts = VERIFY_RANGES if connect is not None and top >= max(parallel_from, 2) else 1
    if parts == 1:
        return one_pass()
    bounds = [1 + i * top // parts for i in range(parts)] + [top + 1]
    ranges = [_Range(bounds[i], bounds[i + 1] - 1 if i < parts - 1 else None)
              for i in range(parts)]
    jobs = [processes.Job(_scan_in_worker, connect, table, key, device, r.lo, r.hi)
            for r in ranges[1:]]
    _scan_range(conn, table, key, device, ranges[0],
                lambda n: progress and progress(before + n, None))
    ranges[1:] = [job.result() for job in jobs]
    clean = all(r.problem is None for r in ranges) and all(
        r.expected_seq == r.hi + 1 for r in ranges[:-1] if r.hi is not None)
    if not clean:
        return one_pass()
    whole = ranges[-1]
    whole.checked = sum(r.checked for r in ranges)
    whole.in_workers = sum(job.ran_in_worker for job in jobs)
    if progress:
        progress(before + whole.checked, None)
    return whole


def _scan_in_worker(connect: Callable[[], Any], table: str, key: bytes, device: str, lo: int,
                    hi: int | None) -> _Range:
    """A worker process's part: one range on its own connection."""
    conn = connect()
    try:
        rng = _Range(lo, hi)
        _scan_range(conn, table, key, device, rng, lambda _n: None)
        return rng
    finally:
        conn.close()


def _scan_range(conn: Any, table: str, key: bytes, device: str, rng: _Range,
                report: Callable[[int], object]) -> None:
    """Check the rows of `rng` in seq order, from the stored hash of the row before it;
    stops at the first problem. The rows' MAC messages are built by SQLite; Python keys
    and compares them a batch at a time."""
    upper = "" if rng.hi is None else f" AND seq <= {int(rng.hi)}"
    cursor = conn.execute(
        f"SELECT seq, id, {_message_sql(table)}, {_types_ok_sql(table)}, chain_hash "  # noqa: S608
        f"FROM {table} WHERE device_id = ? AND seq >= ?{upper} ORDER BY seq",
        (device, max(1, rng.lo - 1)))
    rng.expected_seq = rng.lo
    need_prev = rng.lo > 1
    mac = hmac_hex(key)
    while batch := cursor.fetchmany(_FETCH):
        start = 0
        if need_prev:
            need_prev = False
            seq, row_id, _body, _ok, stored = batch[0]
            if seq != rng.lo - 1:
                rng.problem = ChainProblem(table, seq if isinstance(seq, int) else None,
                                           str(row_id), f"expected seq {rng.lo - 1}: rows "
                                           "before it were removed")
                return
            rng.prev, start = str(stored), 1
        while start < len(batch):
            odd = _scan_batch(table, mac, batch, start, rng)
            if odd is None:
                break
            if isinstance(odd, ChainProblem):
                rng.problem = odd
                return
            # A row whose stored types or field lengths are not the ones core writes: the
            # field-by-field check decides.
            found = _check_slow(conn, table, key, device, int(batch[odd][0]), rng.prev)
            if isinstance(found, ChainProblem):
                rng.problem = found
                return
            rng.prev, rng.expected_seq, rng.last_id = found
            rng.checked += 1
            start = odd + 1
        report(rng.checked)


def _scan_batch(table: str, mac: Callable[[bytes], str], batch: Sequence[Sequence[Any]],
                start: int, rng: _Range) -> ChainProblem | int | None:
    """Check rows (seq, id, message, types_ok, chain_hash) from `start` and move `rng`
    past the good ones. Returns None when all were good, the index of a row for the
    field-by-field check, or the problem."""
    rows = batch[start:] if start else batch
    stored = [r[4] for r in rows]
    prevs = [rng.prev, *stored[:-1]]

    def mac_of(prev: object, body: bytes) -> str:
        p = str(prev).encode("utf-8")
        return mac(len(p).to_bytes(4, "big") + p + body)

    expected = rng.expected_seq
    good = ([r[0] for r in rows] == list(range(expected, expected + len(rows)))
            and all(r[3] for r in rows)
            and [mac_of(p, r[2]) for p, r in zip(prevs, rows, strict=True)] == stored)
    if good:
        rng.checked += len(rows)
        rng.prev, rng.expected_seq, rng.last_id = str(stored[-1]), expected + len(rows), \
            str(rows[-1][1])
        return None
    for i, (seq, row_id, body, types_ok, row_hash_) in enumerate(rows):
        if seq != rng.expected_seq:
            what = ("rows before it were removed"
                    if isinstance(seq, int) and seq > rng.expected_seq
                    else "it is out of order or duplicated")
            return ChainProblem(table, seq if isinstance(seq, int) else None, str(row_id),
                                f"expected seq {rng.expected_seq}: {what}")
        if not types_ok or mac_of(rng.prev, body) != row_hash_:
            return start + i
        rng.checked += 1
        rng.prev, rng.expected_seq, rng.last_id = str(row_hash_), seq + 1, str(row_id)
    return None  # pragma: no cover - the batch as a whole did not pass, so a row did not


# The stored type of each chained column as core writes it (the MAC covers str(value)).
_INTEGER_COLUMNS = frozenset({"seq", "success"})
_NULLABLE_COLUMNS = frozenset({"reason", "tenant_id", "user_id"})
# 4-byte big-endian lengths 0..1023, to cut from: SQLite's printf and unhex per field cost
# more than the rest of the scan. A longer field comes out wrong here and so goes to the
# field-by-field check.
_LENGTHS = "x'" + "".join(f"{n:08x}" for n in range(1024)) + "'"


def _message_sql(table: str) -> str:
    """SQL for `mac_message` over the row's CHAIN_COLUMNS, without the leading prev."""
    parts = []
    for c in CHAIN_COLUMNS[table]:
        if c in _INTEGER_COLUMNS:  # as text, as str() writes it
            parts.append(f"substr({_LENGTHS}, 4 * length({c}) + 1, 4) || {c}")
            continue
        part = f"substr({_LENGTHS}, 4 * length(CAST({c} AS BLOB)) + 1, 4) || {c}"
        # NULL makes the whole part NULL: then its message is the one byte 0.
        parts.append(f"coalesce({part}, x'0000000100')" if c in _NULLABLE_COLUMNS else part)
    # `||` yields text; the CAST hands the bytes back unchanged.
    return "CAST(" + " || ".join(parts) + " AS BLOB)"


def _types_ok_sql(table: str) -> str:
    checks = []
    for c in CHAIN_COLUMNS[table]:
        kind = "integer" if c in _INTEGER_COLUMNS else "text"
        allowed = f"('{kind}', 'null')" if c in _NULLABLE_COLUMNS else f"('{kind}')"
        checks.append(f"typeof({c}) IN {allowed}")
    return "(" + " AND ".join(checks) + ")"


def _check_slow(conn: Any, table: str, key: bytes, device: str, seq: int,
                prev: str) -> ChainProblem | tuple[str, int, str | None]:
    """The field-by-field check (str() of each value) of one row, whose seq is in place
    but whose stored types or field lengths are not the ones core writes."""
    cols = ", ".join(CHAIN_COLUMNS[table])
    row = conn.execute(
        f"SELECT {cols}, chain_hash FROM {table} WHERE device_id = ? AND seq = ?",  # noqa: S608
        (device, seq)).fetchone()
    values, stored, row_id = tuple(row)[:-1], row[-1], str(row[0])
    if row_hash(key, prev, values) != stored:
        return ChainProblem(table, seq, row_id, "its content or position does not match "
                            "the chain: the row was changed, inserted or reordered")
    return str(stored), seq + 1, row_id
