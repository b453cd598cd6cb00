"""The rollback anchor: where each audit chain stood, kept outside the database.

The database alone cannot tell that it was replaced by an older copy of itself: an old
file holds a consistent, MAC'd past. So each chain's last position (seq and hash), its
genesis (the hash of its first row) and the chains' monotonic counter (`chain.COUNTER`,
bound into every head's MAC) are also kept in the OS keyring, beside the audit key.

Opening a workspace compares the database with the anchor (`problem`) and refuses one
that is behind, lost a chain it once had, or holds another history. The anchor moves
only after a commit (`AnchorWriter`, from SQLAlchemy's ``after_commit``), so a crash
between the two leaves the database ahead of the anchor, which is allowed, never behind.
A keyring write costs tens of milliseconds (and the keyring daemon's CPU), so it runs
on a thread of its own, at most every `MIN_INTERVAL` seconds, and coalesces: at most one
write per write transaction, far fewer in a burst, and a reveal does not wait for it.
Closing the workspace writes the last position at once and waits for it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..domain.errors import ClosePlanError, KeyringError
from ..security.keyring_store import ANCHOR_SLOT, KeyringStore
from . import chain

ANCHOR_FORMAT = "closeplan/anchor/v1"
# Seconds between two anchor writes while commits keep coming: bounds the keyring's load
# (each write also costs the keyring daemon CPU). The anchor then lags a busy database by
# up to this much, only until the workspace closes (closing writes the last position).
MIN_INTERVAL = 2.0


@dataclass(frozen=True)
class Mark:
    """Where one chain stood: its last seq and hash, and the hash of its first row."""

    seq: int
    hash: str
    genesis: str


@dataclass
class AnchorState:
    counter: int = 0
    chains: dict[str, Mark] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps({"format": ANCHOR_FORMAT, "counter": self.counter,
                           "chains": {k: [m.seq, m.hash, m.genesis]
                                      for k, m in sorted(self.chains.items())}},
                          separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> AnchorState:
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("format") != ANCHOR_FORMAT:
                raise ValueError
            return cls(int(raw["counter"]), {str(k): Mark(int(v[0]), str(v[1]), str(v[2]))
                                             for k, v in raw["chains"].items()})
        except (ValueError, KeyError, TypeError, AttributeError, IndexError,
                UnicodeDecodeError):
            raise KeyringError("The keyring's record of this workspace's audit position is "
                               "damaged; ask IT to check the keyring.") from None

    def advance(self, counter: int, moves: dict[str, tuple[int, str, str | None]]) -> bool:
        """Take the committed heads `moves` (chain: seq, hash, genesis when the chain
        began in that transaction); only ever forward. True when anything moved."""
        moved = False
        if counter > self.counter:
            self.counter, moved = counter, True
        for name, (seq, digest, genesis) in moves.items():
            old = self.chains.get(name)
            if old is not None and old.seq >= seq:
                continue
            first = old.genesis if old is not None else genesis
            if first is None:  # pragma: no cover - a chain's first move carries its genesis
                continue
            self.chains[name] = Mark(seq, digest, first)
            moved = True
        return moved


def load(keys: KeyringStore) -> AnchorState | None:
    """The anchor in the keyring, or None when this keyring has none yet."""
    data = keys.get(ANCHOR_SLOT)
    return None if data is None else AnchorState.from_bytes(data)


def db_state(s: Session) -> AnchorState:
    """Where the database's chains stand now (to start or catch up an anchor)."""
    conn = s.connection()
    state = AnchorState(chain.stored_counter(s) or 0)
    for name, seq, head_hash in conn.exec_driver_sql(
            "SELECT chain, seq, head_hash FROM audit_heads").all():
        table, _, device = str(name).partition(":")
        if table not in chain.CHAINED_TABLES:
            continue
        first = conn.exec_driver_sql(
            f"SELECT chain_hash FROM {table} WHERE device_id = ? AND seq = 1",  # noqa: S608
            (device,)).scalar()
        state.chains[str(name)] = Mark(int(seq), str(head_hash), str(first or ""))
    return state


def problem(s: Session, anchor: AnchorState) -> str | None:
    """Why the database is not at or ahead of `anchor` (None when it is): a chain lost,
    a chain behind, a chain whose rows are not the anchored ones, or a lower counter."""
    conn = s.connection()
    heads = {str(r[0]): int(r[1]) for r in conn.exec_driver_sql(
        "SELECT chain, seq FROM audit_heads").all()}
    for name, mark in sorted(anchor.chains.items()):
        table, _, device = name.partition(":")
        if table not in chain.CHAINED_TABLES:
            continue
        have = heads.get(name)
        if have is None:
            return (f"the {table} chain of device {device}, which reached seq {mark.seq}, "
                    "is missing from the database")
        if have < mark.seq:
            return (f"the {table} chain of device {device} ends at seq {have}, behind seq "
                    f"{mark.seq} recorded earlier")
        for seq, expected in ((mark.seq, mark.hash), (1, mark.genesis)):
            stored = conn.exec_driver_sql(
                f"SELECT chain_hash FROM {table} WHERE device_id = ? AND seq = ?",  # noqa: S608
                (device, seq)).scalar()
            if stored != expected:
                return (f"the {table} chain of device {device} does not hold the row "
                        f"recorded at seq {seq}: its history was replaced")
    counter = chain.stored_counter(s) or 0
    if counter < anchor.counter:
        return (f"the audit counter is {counter}, behind {anchor.counter} recorded "
                "earlier")
    return None


class AnchorWriter:
    """Moves the keyring's anchor forward after commits, on a thread of its own."""

    def __init__(self, keys: KeyringStore, state: AnchorState, *, written: bool) -> None:
        self._keys = keys
        self._state = state
        self._dirty = not written
        self._writing = False
        self._closed = False
        self._hurry = False  # a flush or close waits: no pause between writes
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self.last_error: ClosePlanError | None = None
        if self._dirty:
            self._start()

    @property
    def state(self) -> AnchorState:
        with self._cv:
            return AnchorState(self._state.counter, dict(self._state.chains))

    def committed(self, counter: int, moves: dict[str, tuple[int, str, str | None]]) -> None:
        """A transaction that moved chain heads has committed: record it (soon)."""
        with self._cv:
            if self._closed or not self._state.advance(counter, moves):
                return
            self._dirty = True
            self._start()
            self._cv.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            # A daemon thread: a process that exits without closing loses at most the
            # last write, which leaves the database ahead of the anchor (allowed).
            self._thread = threading.Thread(target=self._run, name="closeplan-anchor",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._dirty and not self._closed:
                    self._cv.wait()
                if not self._dirty:
                    return
                data = self._state.to_bytes()
                self._dirty, self._writing = False, True
            try:
                self._keys.replace(ANCHOR_SLOT, data)
                self.last_error = None
            except ClosePlanError as exc:  # the next commit or open tries again
                self.last_error = exc
            finally:
                with self._cv:
                    self._writing = False
                    self._cv.notify_all()
                    self._cv.wait_for(lambda: self._hurry or self._closed, MIN_INTERVAL)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every committed position is in the keyring."""
        with self._cv:
            self._hurry = True
            self._cv.notify_all()
            self._cv.wait_for(lambda: not self._dirty and not self._writing, timeout)
            self._hurry = False

    def close(self) -> None:
        """Write what is pending, then stop the thread."""
        self.flush()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30.0)
            self._thread = None


def track(s: Session, writer: AnchorWriter | None) -> None:
    """Have `writer` learn the heads this transaction moves, once it commits."""
    if writer is not None:
        s.info[_WRITER] = writer


_WRITER = "closeplan_anchor_writer"


@event.listens_for(Session, "after_commit")
def _after_commit(s: Session) -> None:
    writer: Any = s.info.pop(_WRITER, None)
    moves = chain.take_moves(s)
    if writer is not None and moves is not None:
        writer.committed(*moves)


@event.listens_for(Session, "after_rollback")
def _after_rollback(s: Session) -> None:
    s.info.pop(_WRITER, None)
    chain.take_moves(s)
