"""Progress reporting and cancellation for long operations (rotation, import, export)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import ClosePlanError

# done, total (None when unknown)
Progress = Callable[[int, int | None], None]


class Cancelled(ClosePlanError):
    """The user cancelled; the work done so far is committed or rolled back as documented."""


class CancelToken:
    """Set from the UI thread, checked by the worker between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("Cancelled.")


def no_progress(done: int, total: int | None) -> None:
    """A progress callback that shows nothing."""
