"""The frame every use case runs in: who acts, one transaction, denials that stay logged.

A denied attempt must leave its log row even though the use case fails. Use cases raise
`Denied` with the error to show and the log row to write; the frame rolls the work back,
writes the row in a transaction of its own, and raises the error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..domain.enums import SecurityEventType as Ev
from ..domain.enums import UserRole
from ..domain.errors import ClosePlanError, PermissionDenied
from ..store import db
from ..store.audit_log import log_event
from ..store.models import User
from ..store.workspace import Workspace


class Denied(Exception):
    """Raised inside a use case: `error` is shown, `record` writes the denial log row."""

    def __init__(self, error: ClosePlanError, record: Callable[[Session], object]) -> None:
        super().__init__(str(error))
        self.error = error
        self.record = record


@contextmanager
def run(session: AuthSession, *, write: bool = True) -> Iterator[Session]:
    """A use case's transaction (the write lock is held from BEGIN when `write`)."""
    engine = session.ws.engine
    try:
        with (db.write_session(engine) if write else db.read_session(engine)) as s:
            yield s
    except Denied as denied:
        with db.write_session(engine) as s:
            denied.record(s)
        raise denied.error from None


@dataclass(frozen=True)
class AuthSession:
    """Who is acting. Use cases re-read the user on every call, so a deactivation or a
    role change takes effect at once, even for a session opened before it."""

    ws: Workspace
    user_id: str
    tenant_id: str
    email: str
    role: UserRole
    display_name: str
    signed_in_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN


def actor(s: Session, session: AuthSession) -> User:
    """The acting user, re-read: refuses a user deactivated since the session began."""
    user = s.get(User, session.user_id)
    if user is None or user.tenant_id != session.tenant_id or user.deactivated_at is not None:
        raise Denied(
            PermissionDenied("Your account is no longer active; sign in again or ask an "
                             "administrator."),
            lambda s2: log_event(s2, session.ws, Ev.ACCESS_DENIED, session.tenant_id,
                                 session.user_id, {"reason": "inactive account"}),
        )
    return user


def require_admin(s: Session, session: AuthSession, action: str) -> User:
    """The acting user if an active admin; otherwise the attempt is logged and refused."""
    user = actor(s, session)
    if user.role != UserRole.ADMIN:
        raise Denied(
            PermissionDenied("Only an administrator can do this."),
            lambda s2: log_event(s2, session.ws, Ev.ACCESS_DENIED, session.tenant_id,
                                 session.user_id, {"action": action,
                                                   "reason": "not an administrator"}),
        )
    return user
