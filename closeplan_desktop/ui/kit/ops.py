"""Core work run from the window, one way (Anki's CollectionOp and QueryOp are the model).

`Op` runs long core work (import, verify, export, key rotation, opening the workspace)
off the UI thread, with a progress dialog that appears once the work has taken 300 ms
and a Cancel button that sets the work's CancelToken. `run_now` runs short core work on
the UI thread under a wait cursor. Both show failures one way: a ClosePlanError's text as
it is, anything else as the one "unexpected error" text (`dialogs.error_text`: the
exception's type, never its text or a traceback, which could hold PHI), in a dialog titled
for the work, or where the caller says (`on_failure`: a line in a form).

Both announce what changed on the signed-in window's `Changes` hub: a set of `Kind`s.
Each pane declares the kinds it shows (`Pane.shows`); a pane on screen refreshes at once,
a hidden one marks itself stale and refreshes once, when it is next shown. The kinds are
announced whatever the outcome: on success they changed; after a cancel or a failure core
may still have kept work done before it (rotated batches, imported chunks) and has
logged a refusal, so a refresh shows the truth. `Changes.announce` may be called from any
thread (sync will): the signal reaches the panes on the UI thread.

What stays synchronous on the UI thread, and why:
- Paging reads of the table models (`DealsModel.reload`/`fetchMore`, the audit's
  `PagingModel`): Qt asks for rows inside `fetchMore` and needs them before it returns;
  each read is one indexed query of at most a page (200 rows), a few milliseconds even
  at a million deals (docs/benchmarks.md). They are not ops; their errors still go
  through `dialogs.error_text`.
- A pane's own lists on refresh (users, the pipeline, reveal statistics, key status),
  through `read`, and one-row writes (delete, restore, role, deactivate, reveal, save a
  deal, sign in), through `run_now`: each ends long before a progress dialog could
  appear; what the user sees next depends on its result (the selection, a dialog that
  stays open with core's message); and a write queued behind the UI would let a second
  click act on a row about to change. The slowest are those that hash a password
  (sign-in, add user, reset): the wait cursor covers them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from ...core.domain.errors import ClosePlanError
from ...core.domain.progress import Cancelled, CancelToken, Progress
from . import dialogs

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Progress, CancelToken], Any]
# How long work runs before its progress dialog appears.
SHOW_PROGRESS_AFTER_MS = 300


class Kind(StrEnum):
    """What a piece of work can change, as the panes that show it know it."""

    DEALS = "deals"
    USERS = "users"
    AUDIT = "audit"  # access log rows and security events (nearly every write adds one)
    KEYS = "keys"
    SETTINGS = "settings"
    SYNC = "sync"  # conflicts and rejections that sync recorded


class Changes(QObject):
    """The hub that tells panes what changed: one per signed-in window."""

    changed = Signal(object)  # frozenset[Kind]

    def announce(self, kinds: Iterable[Kind]) -> None:
        """Tell every subscriber that data of these kinds changed (any thread)."""
        found = frozenset(kinds)
        if found:
            self.changed.emit(found)


def _announce(hub: Changes | None, changes: frozenset[Kind]) -> None:
    if hub is not None:
        hub.announce(changes)


def _unexpected(title: str, exc: BaseException) -> None:
    if not isinstance(exc, ClosePlanError):
        # The type only: the text of an unexpected exception may hold PHI.
        log.warning("%s: unexpected %s", title or "work", type(exc).__name__)


# ---- short work, on the UI thread -------------------------------------------------------


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What `run_now` returns: the work's value, or the text the user was shown."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_now(work: Callable[[], T], *, parent: QWidget | None = None, title: str = "",
            on_failure: Callable[[str], None] | None = None, changes: Iterable[Kind] = (),
            hub: Changes | None = None) -> Outcome[T]:
    """Run short core work on the UI thread under a wait cursor. On failure the text goes
    to `on_failure`, or to an error dialog titled `title`; then `changes` are announced
    on `hub` (see the module docstring), and the outcome is returned."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        outcome = _attempt(work, title)
    finally:
        QApplication.restoreOverrideCursor()
    _announce(hub, frozenset(changes))
    _report(outcome, parent, title, on_failure)
    return outcome


def read(work: Callable[[], T], *, parent: QWidget | None = None, title: str = "",
         on_failure: Callable[[str], None] | None = None) -> Outcome[T]:
    """A short read on the UI thread (a pane's lists): as `run_now`, without the wait
    cursor (a search runs one per keystroke) and without an announcement."""
    outcome = _attempt(work, title)
    _report(outcome, parent, title, on_failure)
    return outcome


def _attempt(work: Callable[[], T], title: str) -> Outcome[T]:
    try:
        return Outcome(value=work())
    except Exception as exc:  # every failure is shown, never raised into Qt
        _unexpected(title, exc)
        return Outcome(error=dialogs.error_text(exc))


def _report(outcome: Outcome[T], parent: QWidget | None, title: str,
            on_failure: Callable[[str], None] | None) -> None:
    if outcome.error is None:
        return
    if on_failure is not None:
        on_failure(outcome.error)
    else:
        dialogs.show_error(parent, title, outcome.error)


# ---- long work, off the UI thread -------------------------------------------------------


class _Runner(QObject):
    progress = Signal(int, int)
    done = Signal(object)
    failed = Signal()
    cancelled = Signal()

    def __init__(self, work: Work, token: CancelToken) -> None:
        super().__init__()
        self.work, self.token = work, token
        # Set before `failed` is emitted, read on the UI thread after it arrives.
        self.error: Exception | None = None

    @Slot()
    def run(self) -> None:
        try:
            result = self.work(self._report, self.token)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown by Op, as its type only when unexpected
            self.error = exc
            self.failed.emit()
        else:
            self.done.emit(result)

    def _report(self, done: int, total: int | None) -> None:
        self.progress.emit(done, total or 0)


class Op(QObject):
    """Long core work: `work(progress, cancel_token)` on a worker thread, its outcome
    back on the UI thread. Set the handlers, then `run_in_background()`:

        Op(self, "Importing deals", work, changes={Kind.DEALS, Kind.AUDIT}, hub=hub)
            .on_success(done).run_in_background()

    The order of what follows the work: `finished`, the announcement on `hub`, then the
    success, failure or cancel handler. Without a failure handler, the failure is shown
    in an error dialog titled `failure_title` (default: `title`). Ops in flight are kept
    alive here until they finish."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    _running: ClassVar[set[Op]] = set()

    def __init__(self, parent: QWidget | None, title: str, work: Work, *,
                 changes: Iterable[Kind] = (), hub: Changes | None = None,
                 progress: bool = True, cancellable: bool = True,
                 failure_title: str | None = None, dialog_name: str = "",
                 window_modal: bool = False) -> None:
        super().__init__()
        self.parent_widget = parent
        self.title = title
        self.failure_title = failure_title or title
        self.changes = frozenset(changes)
        self.hub = hub
        self.token = CancelToken()
        self._options = (progress, cancellable, dialog_name, window_modal)
        self._on_failure: Callable[[str], None] | None = None
        self.thread_: QThread | None = None
        self.runner = _Runner(work, self.token)
        self.dialog: QProgressDialog | None = None

    # ---- handlers (each returns the op, to chain) -----------------------------------

    def on_success(self, fn: Callable[[Any], object]) -> Op:
        self.succeeded.connect(fn)
        return self

    def on_failure(self, fn: Callable[[str], None]) -> Op:
        """Show the failure text here instead of in an error dialog."""
        self._on_failure = fn
        return self

    def on_cancel(self, fn: Callable[[], object]) -> Op:
        self.cancelled.connect(fn)
        return self

    def on_finished(self, fn: Callable[[], object]) -> Op:
        self.finished.connect(fn)
        return self

    # ---- running --------------------------------------------------------------------

    def run_in_background(self) -> Op:
        progress, cancellable, dialog_name, window_modal = self._options
        if progress:
            dialog = self.dialog = QProgressDialog(self.title, "Cancel", 0, 0,
                                                   self.parent_widget)
            dialog.setWindowTitle(self.title)
            if dialog_name:
                dialog.setObjectName(dialog_name)
            if window_modal:
                dialog.setWindowModality(Qt.WindowModality.WindowModal)
            if not cancellable:
                dialog.setCancelButton(None)  # type: ignore[arg-type]
            dialog.setMinimumDuration(SHOW_PROGRESS_AFTER_MS)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.canceled.connect(self.token.cancel)
            self.runner.progress.connect(self._progress)
        self.thread_ = QThread()
        self.runner.moveToThread(self.thread_)
        self.thread_.started.connect(self.runner.run)
        self.runner.done.connect(self._done)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(self._cancelled)
        Op._running.add(self)
        self.thread_.start()
        return self

    @property
    def error(self) -> Exception | None:
        """The exception behind a failure (a ClosePlanError or an unexpected one)."""
        return self.runner.error

    def cancel(self) -> None:
        self.token.cancel()

    def wait(self) -> None:
        """Block until the work has returned and its thread has ended; its outcome still
        arrives later, through the UI thread's event loop."""
        if self.thread_ is not None:
            # The thread's event loop ends at once, or as soon as the work returns.
            self.thread_.quit()
            self.thread_.wait()

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None and total:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))
            self.dialog.setLabelText(f"{self.title}: {done:,} of {total:,}")

    def _finish(self) -> None:
        self.wait()
        if self.dialog is not None:
            self.dialog.close()
        Op._running.discard(self)
        self.finished.emit()
        _announce(self.hub, self.changes)

    @Slot(object)
    def _done(self, result: object) -> None:
        self._finish()
        self.succeeded.emit(result)

    @Slot()
    def _failed(self) -> None:
        exc = self.runner.error
        text = dialogs.error_text(exc) if exc is not None else ""
        if exc is not None:
            _unexpected(self.title, exc)
        self._finish()
        if self._on_failure is not None:
            self._on_failure(text)
        else:
            dialogs.show_error(self.parent_widget, self.failure_title, text)
        self.failed.emit(text)

    @Slot()
    def _cancelled(self) -> None:
        self._finish()
        self.cancelled.emit()
