"""Worker processes for core's long checks (audit verify checks long chains in ranges).

Workers are spawned, never forked (the app may hold a GUI and threads), once, on first
use; each turns core dumps off before it runs anything. An installed (frozen) build runs
its own executable as the worker, so its entry points call `enter_if_worker` first.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first used: the GUI's start imports this module
    from concurrent.futures import Future, ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None
_pool_pid = 0
_lock = threading.Lock()
_log = logging.getLogger(__name__)


def pool(size: int) -> ProcessPoolExecutor:
    """The shared pool of worker processes (started with `size` workers on first use)."""
    global _pool, _pool_pid
    with _lock:
        # A forked copy of this process (the crash tests fork writers) must not use its
        # parent's pool: its threads and pipes belong to the parent.
        if _pool is None or _pool_pid != os.getpid():
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from ..security import hardening

            _pool = ProcessPoolExecutor(max_workers=max(1, size),
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=hardening.apply)
            _pool_pid = os.getpid()
            # Shut the workers down before the interpreter tears modules down (else the
            # pool's clean-up runs too late and prints an error at exit).
            atexit.register(_pool.shutdown, wait=True, cancel_futures=True)
        return _pool


class Job:
    """`fn(*args)` running in a worker process; `result()` waits for it. If no worker can
    run it (none can start here, or one died), or with `here`, it runs in this process
    when `result()` is called."""

    def __init__(self, fn: Callable[..., Any], *args: Any, here: bool = False) -> None:
        self._fn, self._args = fn, args
        self._future: Future[Any] | None = None
        self.ran_in_worker = False  # known once result() has returned
        if here:  # too little work to be worth a process (or to start the pool for)
            return
        try:
            self._future = pool(1).submit(fn, *args)
        except (OSError, RuntimeError) as exc:
            _log.warning("no worker process (%s); working in this one", type(exc).__name__)
            self._future = None

    def result(self) -> Any:
        if self._future is not None:
            from concurrent.futures.process import BrokenProcessPool

            try:
                found = self._future.result()
                self.ran_in_worker = True
                return found
            except BrokenProcessPool:
                _log.warning("a worker process stopped; working in this one")
        return self._fn(*self._args)


def enter_if_worker() -> None:
    """In a frozen build started as a worker, run the worker and exit (a no-op otherwise)."""
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()
