"""Long work off the UI thread, with a progress dialog and Cancel (the Anki pattern)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from ..core.domain.errors import ClosePlanError
from ..core.domain.progress import Cancelled, CancelToken


class _Runner(QObject):
    progress = Signal(int, int)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], token: CancelToken) -> None:
        super().__init__()
        self.fn, self.token = fn, token
        # The exception behind `failed`, for callers that pick a title by its type
        # (set before the signal is emitted, read on the UI thread after it arrives).
        self.error: Exception | None = None

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self._report, self.token)
        except Cancelled:
            self.cancelled.emit()
        except ClosePlanError as exc:
            self.error = exc
            self.failed.emit(str(exc))
        except Exception as exc:  # no traceback text: it may hold PHI
            self.error = exc
            self.failed.emit(f"Unexpected error ({type(exc).__name__}); nothing more was "
                             "changed. Run 'closeplan-admin doctor' and report this.")
        else:
            self.done.emit(result)

    def _report(self, done: int, total: int | None) -> None:
        self.progress.emit(done, total or 0)


class Task(QObject):
    """Runs `fn(progress, cancel_token)` on a worker thread; results come back as signals
    on the UI thread. Keep a reference until `finished`."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, parent: QWidget | None, title: str,
                 fn: Callable[[Callable[[int, int | None], None], CancelToken], Any],
                 *, show_dialog: bool = True) -> None:
        super().__init__(parent)
        self.token = CancelToken()
        self.thread = QThread()
        self.runner = _Runner(fn, self.token)
        self.runner.moveToThread(self.thread)
        self.thread.started.connect(self.runner.run)
        self.dialog: QProgressDialog | None = None
        if show_dialog:
            self.dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
            self.dialog.setWindowTitle(title)
            self.dialog.setMinimumDuration(300)
            self.dialog.setAutoClose(False)
            self.dialog.setAutoReset(False)
            self.dialog.canceled.connect(self.token.cancel)
            self.runner.progress.connect(self._progress)
        self.runner.done.connect(self._done)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(self._cancelled)

    def start(self) -> Task:
        self.thread.start()
        return self

    @property
    def error(self) -> Exception | None:
        """The exception behind `failed` (a ClosePlanError or an unexpected one)."""
        return self.runner.error

    def wait(self) -> None:
        """Block until the work has returned and its thread has ended; its result
        signals still arrive later, through the UI thread's event loop."""
        # The thread's event loop ends at once, or as soon as the work returns (the
        # `_finish` that would end it waits in this blocked thread's queue).
        self.thread.quit()
        self.thread.wait()

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        if self.dialog is None:
            return
        if total:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))
            self.dialog.setLabelText(f"{self.dialog.windowTitle()}: {done:,} of {total:,}")

    def _finish(self) -> None:
        self.thread.quit()
        self.thread.wait()
        if self.dialog is not None:
            self.dialog.close()
        self.finished.emit()

    @Slot(object)
    def _done(self, result: object) -> None:
        self._finish()
        self.succeeded.emit(result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._finish()
        self.failed.emit(message)

    @Slot()
    def _cancelled(self) -> None:
        self._finish()
        self.cancelled.emit()
