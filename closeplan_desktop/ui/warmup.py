"""The warm-up that runs while the user types a password: one object for the app and
the benchmark (tests/benchmarks/gui_child.py), so the benchmark measures what users get.

Off the UI thread it imports the main window's modules and runs `core.warmup.warm_up`
(statement caches, no tenant data). It fails quietly: it only saves time.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from .worker import Task

if TYPE_CHECKING:
    from ..core.store.workspace import Workspace

log = logging.getLogger(__name__)


def _work(ws: Workspace) -> None:
    from ..core.tools.warmup import warm_up
    from . import main_window  # noqa: F401  (its import chain: panes, models, dialogs)

    warm_up(ws)


class WarmUp(QObject):
    """Call `start()` once the workspace is open; `done` (milliseconds) follows."""

    done = Signal(float)

    def __init__(self, ws: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self.task: Task | None = None
        self.ms: float | None = None
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.task = Task(None, "Warm-up", lambda _p, _c: _work(self.ws), show_dialog=False)
        self.task.succeeded.connect(self._finish)
        self.task.failed.connect(self._failed)
        self.task.start()

    def wait(self) -> None:
        """Block until the work off the UI thread has returned (before closing the
        workspace under it)."""
        if self.task is not None:
            self.task.wait()

    def _failed(self, _message: str) -> None:
        # The type only: a warm-up failure costs speed, never data; the real use shows it.
        log.warning("warm-up skipped (%s)", type(self.task.error).__name__ if self.task else "")
        self._finish()

    def _finish(self, _result: object = None) -> None:
        self.ms = (time.perf_counter() - self._t0) * 1000
        self.done.emit(self.ms)
