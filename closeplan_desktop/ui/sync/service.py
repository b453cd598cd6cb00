"""The window's sync with the organisation's server (a connected workspace only).

One round at a time (`engine.sync_once`) runs off the UI thread through `kit.ops.Op`: on
"Sync now", a few seconds after local changes (debounced: a burst of edits is one round),
and every few minutes while connected. A long-poll loop (`engine.wait_for_changes`) runs
on a worker thread while online and brings other laptops' changes within seconds; it
stops at lock, sign-out and close. Pulled rows reach the panes through the window's
`Changes` hub, the same announcement as local edits. One transport serves both threads
(core's Transport serialises token refresh). The service keeps the state the status bar
shows: online, last sync, pending changes, conflicts.

When the server ends this device's session (core's SignedOut: its refresh token revoked
or ended, a sign-out elsewhere, a deactivation), the rounds and the long-poll stop and
`state.signed_out` says so: the status bar offers "Sign in", whose dialog
(sign_in_again.py) calls `signed_in_again` when the server took the password. Local
work goes on meanwhile; changes wait in the outbox.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ...core.domain.errors import (
    ClosePlanError,
    DeviceRevoked,
    DeviceWiped,
    SessionEnded,
    SignedOut,
    SyncError,
)
from ...core.sync import connect, engine, review
from ...core.sync.transport import Transport
from ..kit import dialogs
from ..kit.ops import Kind, Op
from ..signed_in import SignedIn

log = logging.getLogger(__name__)

# What a pulled table changes, as the panes know it.
PULLED_KINDS = {"deals": Kind.DEALS, "users": Kind.USERS, "phi_keys": Kind.KEYS,
                "tenants": Kind.SETTINGS, "conflicts": Kind.SYNC, "rejections": Kind.SYNC}
LOCAL_KINDS = frozenset({Kind.DEALS, Kind.USERS, Kind.KEYS, Kind.SETTINGS})


def is_connected(signed_in: SignedIn) -> bool:
    """Whether the workspace syncs with a server (connected and approved)."""
    conn = engine.connection(signed_in.ws)
    return conn is not None and conn.status == engine.CONNECTED


@dataclass
class SyncState:
    """What the status bar shows."""

    online: bool = False
    problem: str = ""  # the last failure in words ("" after a good round)
    last_sync_at: datetime | None = None
    pending: int = 0
    conflicts: int = 0
    rejections: int = 0
    running: bool = False
    signed_out: bool = False  # the server ended this device's session: sign in again


class _Poller(QThread):
    """The long-poll loop: one `wait_for_changes` after another until stopped."""

    changed = Signal(object)  # frozenset[str], the tables a page changed
    went_offline = Signal(str)
    came_online = Signal()
    signed_out = Signal(str)  # the server ended the session: no more long-polls

    def __init__(self, service: SyncService) -> None:
        super().__init__()
        self.ws = service.signed_in.ws
        self.transport = service.transport
        self.wait_s = service.POLL_WAIT_S
        self.retry_s = service.POLL_RETRY_S
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                engine.wait_for_changes(self.ws, self.transport, self.wait_s,
                                        announce=self.changed.emit)
                self.came_online.emit()
            except SignedOut as exc:
                if not self.stopping.is_set():
                    self.signed_out.emit(str(exc))
                return
            except SyncError as exc:
                if self.stopping.is_set():
                    return
                self.went_offline.emit(str(exc))
                if not exc.transient:
                    return  # refused: the next round says why; no loop of refusals
                self.stopping.wait(self.retry_s)
            except Exception as exc:  # never into Qt; the type only (PHI)
                log.warning("long-poll stopped: unexpected %s", type(exc).__name__)
                return


class SyncService(QObject):
    """Sync for one signed-in window. `state` is what the status bar shows; `updated`
    says it changed."""

    updated = Signal()

    # How long after a local change a round starts, and how often one runs anyway.
    DEBOUNCE_MS: ClassVar[int] = 3000
    PERIOD_MS: ClassVar[int] = 5 * 60 * 1000
    POLL_WAIT_S: ClassVar[float] = 25.0
    POLL_RETRY_S: ClassVar[float] = 15.0
    # How long close waits for a long-poll in flight before leaving it.
    STOP_WAIT_MS: ClassVar[int] = 3000

    def __init__(self, signed_in: SignedIn, parent: Any = None,
                 transport: Transport | None = None) -> None:
        super().__init__(parent)
        self.signed_in = signed_in
        self.window = parent
        self.transport = transport or engine.open_transport(signed_in.ws)
        self.state = SyncState()
        self.op: Op | None = None
        self._again = False
        self.poller: _Poller | None = None
        self.stopped = False
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(self.DEBOUNCE_MS)
        self.debounce.timeout.connect(self._after_local_change)
        self.period = QTimer(self)
        self.period.setInterval(self.PERIOD_MS)
        self.period.timeout.connect(self.sync_now)
        signed_in.changes.changed.connect(self._changed)
        signed_in.locked.connect(self.pause)
        signed_in.unlocked.connect(self.resume)
        conn = engine.connection(signed_in.ws)
        self.state.last_sync_at = conn.last_sync_at if conn is not None else None
        self.refresh_counts()

    # ---- starting and stopping -------------------------------------------------------

    def start(self) -> None:
        """The first round now, then the periodic rounds and the long-poll."""
        self.period.start()
        self.sync_now()

    def pause(self) -> None:
        """Locked: no rounds and no long-poll until unlocked."""
        self.debounce.stop()
        self.period.stop()
        self._stop_poller()

    def resume(self) -> None:
        if not self.stopped and not self.state.signed_out:  # signed out: "Sign in" first
            self.start()

    def stop(self) -> None:
        """Sign-out or close: everything ends; the transport is closed."""
        if self.stopped:
            return
        self.stopped = True
        poller = self.poller
        self.pause()  # tells the long-poll to stop
        if self.op is not None:
            self.op.wait()
        self.transport.close()  # a long-poll in flight ends with its connection
        if poller is not None:
            poller.wait(self.STOP_WAIT_MS)

    def _stop_poller(self) -> None:
        poller, self.poller = self.poller, None
        if poller is None:
            return
        poller.stopping.set()
        if poller.isRunning():
            # A long-poll in flight returns within its wait and ends on its own; the
            # thread object lives until then (Qt aborts on a running thread destroyed).
            _leftover.add(poller)

    def _start_poller(self) -> None:
        if self.poller is not None or self.stopped or self.signed_in.is_locked:
            return
        poller = self.poller = _Poller(self)
        poller.changed.connect(self._pulled)
        poller.went_offline.connect(self._poll_offline)
        poller.came_online.connect(self._poll_online)
        poller.signed_out.connect(self._signed_out)
        # A slot of this object: called on the UI thread, never in the ending thread.
        poller.finished.connect(self._poller_ended)
        poller.start()

    @Slot()
    def _poller_ended(self) -> None:
        if self.poller is not None and self.poller.isFinished():
            self.poller = None
        for done in [p for p in _leftover if p.isFinished()]:
            _leftover.discard(done)

    # ---- rounds ----------------------------------------------------------------------

    def sync_now(self) -> None:
        """One round off the UI thread (another is queued while one runs)."""
        if self.stopped or self.signed_in.is_locked:
            return
        if self.op is not None:
            self._again = True
            return
        self.debounce.stop()
        ws, transport = self.signed_in.ws, self.transport
        self.state.running = True
        self.updated.emit()

        def work(_progress: object, _cancel: object) -> engine.SyncResult:
            conn = engine.connection(ws)
            if conn is not None and not conn.bootstrapped:  # an interrupted first load
                connect.finish(ws, transport)
                self._announce(frozenset({"deals", "users"}))
            return engine.sync_once(ws, transport, announce=self._announce)

        op = self.op = Op(self.window, "Syncing", work, progress=False)
        op.on_success(self._done).on_failure(lambda text: self._failed(text, op.error)) \
            .on_finished(self._finished).run_in_background()

    def _announce(self, tables: frozenset[str]) -> None:
        """From the worker: tell the panes (the hub may be told from any thread)."""
        self.signed_in.changes.announce(PULLED_KINDS[t] for t in tables if t in PULLED_KINDS)

    def _done(self, result: engine.SyncResult) -> None:
        self.state.online, self.state.problem = True, ""
        conn = engine.connection(self.signed_in.ws)
        self.state.last_sync_at = conn.last_sync_at if conn is not None else None
        if result.conflicts or result.rejections:
            self.signed_in.changes.announce({Kind.SYNC})
        self.refresh_counts()  # says `updated`
        self._start_poller()

    def _failed(self, text: str, error: Exception | None) -> None:
        self.state.online = False
        self.state.problem = text
        if isinstance(error, DeviceRevoked):  # nothing more to try: the server said why
            self._stop_poller()
            self.period.stop()
        if isinstance(error, SignedOut):
            self._signed_out(text)
            return
        self.updated.emit()
        if isinstance(error, (DeviceWiped, SessionEnded)):
            # The server ended this session (a deactivated user) or this laptop (a
            # revocation, carried out: the workspace is gone): say so, then leave.
            self.stop()
            wiped = isinstance(error, DeviceWiped)
            dialogs.show_error(self.window, "This laptop was removed" if wiped
                               else "Signed out by your organisation's server", text)
            if self.window is not None:
                self.window.sign_out(quit_app=wiped)

    def _finished(self) -> None:
        self.op = None
        self.state.running = False
        self.refresh_counts()
        if self._again:
            self._again = False
            self.sync_now()

    def _changed(self, kinds: frozenset[Kind]) -> None:
        if kinds & LOCAL_KINDS and not self.stopped:
            self.debounce.start()  # restarted by each change: one round after a burst

    def _after_local_change(self) -> None:
        self.refresh_counts()
        # Pulled rows announce too (nothing to push); signed out, changes wait here.
        if self.state.pending and not self.state.signed_out:
            self.sync_now()

    # ---- the server ended the session ---------------------------------------------------

    def _signed_out(self, text: str) -> None:
        """No rounds and no long-poll until the user signs in again (the status bar's
        "Sign in"); local work goes on."""
        self.state.online, self.state.signed_out, self.state.problem = False, True, text
        self.debounce.stop()
        self.period.stop()
        self._stop_poller()
        self.updated.emit()

    def signed_in_again(self) -> None:
        """The server took the password again (core.sync.connect.sign_in_again_open on
        this service's transport): sync resumes at once."""
        self.state.signed_out, self.state.problem = False, ""
        self.updated.emit()
        if not self.stopped and not self.signed_in.is_locked:
            self.start()

    # ---- the long-poll's news ----------------------------------------------------------

    def _pulled(self, tables: frozenset[str]) -> None:
        self._announce(tables)
        self.state.online, self.state.problem = True, ""
        conn = engine.connection(self.signed_in.ws)
        self.state.last_sync_at = conn.last_sync_at if conn is not None else None
        self.refresh_counts()

    def _poll_online(self) -> None:
        if not self.state.online:
            self.state.online, self.state.problem = True, ""
            self.updated.emit()

    def _poll_offline(self, text: str) -> None:
        self.state.online, self.state.problem = False, text
        self.updated.emit()

    # ---- counts ----------------------------------------------------------------------

    def refresh_counts(self) -> None:
        """Pending changes, conflicts and rejections, read now (short local reads)."""
        try:
            self.state.pending = engine.pending_count(self.signed_in.ws)
            session = self.signed_in.session_or_none()
            if session is not None:
                self.state.conflicts, self.state.rejections = review.counts(session)
        except ClosePlanError as exc:
            self.state.problem = str(exc)
        except Exception as exc:  # the type only (PHI)
            self.state.problem = dialogs.error_text(exc)
        self.updated.emit()


# Pollers left running at close until their long-poll returns (kept alive here).
_leftover: set[_Poller] = set()
