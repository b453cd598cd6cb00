"""The signed-in state of the window: the core session, and locking."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core.store.workspace import Workspace
from ..core.usecases import auth
from ..core.usecases.frame import AuthSession


class AppSession(QObject):
    """Holds the core session; `lock()` drops PHI everywhere (panes listen to `locked`)."""

    locked = Signal()
    unlocked = Signal()

    def __init__(self, ws: Workspace, session: AuthSession) -> None:
        super().__init__()
        self.ws = ws
        self.core = session
        self.is_locked = False

    @property
    def policy(self):
        return self.ws.policy

    def lock(self) -> None:
        if not self.is_locked:
            self.is_locked = True
            self.locked.emit()

    def unlock(self, password: str) -> None:
        """Sign in again as the same user (a failed attempt counts toward lockout)."""
        self.core = auth.sign_in(self.ws, self.core.email, password)
        self.is_locked = False
        self.unlocked.emit()
