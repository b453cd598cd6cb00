"""Long-poll: a pull that finds nothing new waits for the tenant's next commit.

Each API process runs one `Listener`: a thread with its own connection that LISTENs on
`closeplan_sync` (migration 0004 notifies '<tenant>:<version>' at every commit) and
wakes the waiters of that tenant whose cursor is below the version. Waiting holds no
database connection; the waiter pulls again when woken. The number of waiters is
bounded (`max_waiters`; past it a 503 says to retry), and `close()` wakes every waiter
at once, so a shutting-down process answers its waiting pulls promptly. Several API
processes each run their own listener: PostgreSQL delivers every NOTIFY to each.

A notification lost while the listener reconnects cannot strand a waiter: after every
(re)connection all waiters are woken to look again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import psycopg

from ..errors import ApiError, bad_request

CHANNEL = "closeplan_sync"
MAX_WAIT_SECONDS = 30
DEFAULT_MAX_WAITERS = 1000
POLL_SECONDS = 0.25
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Waiter:
    """One waiting pull: woken by a commit of `tenant_id` above `above`, or by the
    listener closing (`closed`). `wake` is called from the listener's thread."""

    tenant_id: str
    above: int
    _wake: Callable[[], None]
    closed: bool = False
    seen: int = field(default=-1)

    def wake(self, version: int | None) -> None:
        if version is not None:
            self.seen = max(self.seen, version)
        self._wake()


class Listener:
    """The process's LISTEN connection and its waiters (see the module's docstring)."""

    def __init__(self, dsn: str, *, max_waiters: int = DEFAULT_MAX_WAITERS) -> None:
        self.dsn = dsn
        self.max_waiters = max_waiters
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        self._count = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.notifications = 0

    # -- the listening thread ------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once the LISTEN is in place (or after `timeout`,
        the thread then keeps trying to connect)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="closeplan-sync-listener",
                                            daemon=True)
            self._thread.start()
        self._connected.wait(timeout)

    @property
    def listening(self) -> bool:
        return self._connected.is_set() and not self._stop.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop listening and wake every waiter (they answer with what they have)."""
        self._stop.set()
        with self._lock:
            everyone = [w for ws in self._waiters.values() for w in ws]
        for w in everyone:
            w.closed = True
            w.wake(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    attempt = 0
                    self._connected.set()
                    self._wake_all()  # whatever happened while not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL_SECONDS):
                            self._dispatch(note.payload)
            except psycopg.Error as e:
                self._connected.clear()
                delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                attempt += 1
                log.warning("sync listener lost its connection (%s); again in %.1f s",
                            type(e).__name__, delay)
                self._stop.wait(delay)
        self._connected.clear()

    def _dispatch(self, payload: str) -> None:
        tenant_id, _, raw = payload.rpartition(":")
        try:
            version = int(raw)
        except ValueError:
            return
        self.notifications += 1
        with self._lock:
            targets = [w for w in self._waiters.get(tenant_id, ()) if version > w.above]
        for w in targets:
            w.wake(version)

    def _wake_all(self) -> None:
        with self._lock:
            everyone = [w for ws in self._waiters.values() for w in ws]
        for w in everyone:
            w.wake(None)

    # -- waiters -------------------------------------------------------------------

    @contextlib.contextmanager
    def subscribe(self, tenant_id: str, above: int,
                  wake: Callable[[], None]) -> Iterator[Waiter]:
        """Register a waiter for the block's duration (ApiError 503 when too many wait,
        or when this process is shutting down)."""
        waiter = Waiter(tenant_id, above, wake)
        with self._lock:
            if self._stop.is_set():
                raise ApiError(503, "shutting_down", "This server is shutting down: "
                               "pull again in a moment.", retry_after=1)
            if self._count >= self.max_waiters:
                raise ApiError(503, "too_many_waiting", "This server is holding as many "
                               "waiting pulls as it can: pull again in a few seconds.",
                               retry_after=5)
            self._waiters.setdefault(tenant_id, set()).add(waiter)
            self._count += 1
        try:
            yield waiter
        finally:
            with self._lock:
                group = self._waiters.get(tenant_id)
                if group is not None:
                    group.discard(waiter)
                    if not group:
                        del self._waiters[tenant_id]
                self._count -= 1

    @property
    def waiting(self) -> int:
        """How many waiters are registered now."""
        with self._lock:
            return self._count


class Result(Protocol):
    """What a look returns: a pull page (its changes, and the checkpoint it read)."""

    changes: list[str]
    checkpoint: int


R = TypeVar("R", bound=Result)


def clamp_wait(wait: object) -> float:
    """A wait in seconds (0..MAX_WAIT_SECONDS), else a 400 that says so."""
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not (
            0 <= wait <= MAX_WAIT_SECONDS):
        raise bad_request("bad_wait", f"wait must be a number of seconds from 0 to "
                          f"{MAX_WAIT_SECONDS}.")
    return float(wait)


def poll(listener: Listener, tenant_id: str, above: int, wait: float,
         look: Callable[[], R]) -> R:
    """Call `look` (a pull) until it finds changes or `wait` seconds pass: at once, then
    each time the listener announces a commit of the tenant past what the last look
    saw. Registered before the first look, so a commit between a look and the wait is
    not missed. Blocks the calling thread; the HTTP route uses `long_poll`."""
    event = threading.Event()
    deadline = time.monotonic() + wait
    with listener.subscribe(tenant_id, above, event.set) as waiter:
        while True:
            event.clear()
            result = look()
            waiter.above = max(waiter.above, result.checkpoint)
            left = deadline - time.monotonic()
            if result.changes or left <= 0 or waiter.closed:
                return result
            if not event.wait(left) or waiter.closed:
                return result


async def long_poll(listener: Listener, tenant_id: str, above: int, wait: float,
                    look: Callable[[], R]) -> R:
    """`poll` for an event loop: `look` runs in a worker thread, the wait holds no
    thread and no database connection."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    deadline = time.monotonic() + wait

    def wake() -> None:
        loop.call_soon_threadsafe(event.set)

    with listener.subscribe(tenant_id, above, wake) as waiter:
        while True:
            event.clear()
            result = await asyncio.to_thread(look)
            waiter.above = max(waiter.above, result.checkpoint)
            left = deadline - time.monotonic()
            if result.changes or left <= 0 or waiter.closed:
                return result
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                return result
            if waiter.closed:
                return result
