"""Worker processes for core's long checks (audit verify checks long chains in ranges).

Workers are spawned, never forked (the app may hold a GUI and threads), once, on first
use; each turns core dumps off before it runs anything. An installed (frozen) build runs
its own executable as the worker, so its entry points call `enter_if_worker` first.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ProcessPoolExecutor

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def pool(size: int) -> ProcessPoolExecutor:
    """The shared pool of worker processes (started with `size` workers on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            import multiprocessing

            from . import hardening

            _pool = ProcessPoolExecutor(max_workers=max(1, size),
                                        mp_context=multiprocessing.get_context("spawn"),
                                        initializer=hardening.apply)
        return _pool


def enter_if_worker() -> None:
    """In a frozen build started as a worker, run the worker and exit (a no-op otherwise)."""
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()
