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

from .kit.ops import Op

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
        self.op: Op | None = None
        self.ms: float | None = None
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.op = (Op(None, "Warm-up", lambda _p, _c: _work(self.ws), progress=False)
                   .on_success(self._finish).on_failure(self._failed).run_in_background())

    def wait(self) -> None:
        """Block until the work off the UI thread has returned (before closing the
        workspace under it)."""
        if self.op is not None:
            self.op.wait()

    def _failed(self, _message: str) -> None:
        # The type only: a warm-up failure costs speed, never data; the real use shows it.
        log.warning("warm-up skipped (%s)", type(self.op.error).__name__ if self.op else "")
        self._finish()

    def _finish(self, _result: object = None) -> None:
        self.ms = (time.perf_counter() - self._t0) * 1000
        self.done.emit(self.ms)
