"""The signed-in state of the window: the workspace, the core session, locking, and the
hub that tells the panes what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ..core.security.policy import Policy
from ..core.store.workspace import Workspace
from ..core.usecases import auth
from ..core.usecases.frame import AuthSession
from .kit.ops import Changes

if TYPE_CHECKING:
    from .sync.service import SyncService


class SignedIn(QObject):
    """Holds the core session while a user is signed in to the window; `lock()` drops PHI
    everywhere (panes listen to `locked`); `changes` announces what core work changed."""

    locked = Signal()
    unlocked = Signal()

    def __init__(self, ws: Workspace, session: AuthSession) -> None:
        super().__init__()
        self.ws = ws
        self.core = session
        self.is_locked = False
        self.changes = Changes(self)
        # The window's sync with the server; None while the workspace is standalone.
        self.sync: SyncService | None = None

    @property
    def policy(self) -> Policy:
        return self.ws.policy

    def session_or_none(self) -> AuthSession | None:
        """The core session, or None while locked (models read nothing then)."""
        return None if self.is_locked else self.core

    def lock(self) -> None:
        if not self.is_locked:
            self.is_locked = True
            auth.sign_out(self.core)  # the unlocked keys leave memory
            self.locked.emit()

    def unlock(self, password: str) -> None:
        """Sign in again as the same user (a failed attempt counts toward lockout)."""
        self.core = auth.sign_in(self.ws, self.core.email, password)
        self.is_locked = False
        self.unlocked.emit()
