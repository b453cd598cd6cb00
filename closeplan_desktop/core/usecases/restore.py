"""Accepting a restored copy on purpose: the way forward after a rollback refusal.

Opening refuses a database older than the position the keyring recorded (store/anchor),
which is right for a copy put back by someone erasing audit rows, and wrong for a
restore that IT made on purpose. An administrator of the workspace accepts it: their
password is checked against the restored database, they give a reason, a
RESTORE_ACCEPTED event records from which counter to which (and why it was refused),
and only then is the anchor moved to the restored database. Anyone else is refused, and
the refusal is logged; the workspace stays refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..domain import validation
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import ValidationError
from ..store import workspace
from ..store.audit_log import log_event
from . import auth
from .frame import require_admin, run


@dataclass(frozen=True)
class Accepted:
    """What was accepted: the anchor's counter before, the database's, and why the copy
    had been refused."""

    from_counter: int
    to_counter: int
    why: str


def accept_restore(path: Path, email: str, password: str, reason: str) -> Accepted:
    """Admin only, with their password and a reason: accept the refused (rolled back)
    copy at `path` and re-anchor on it. Logged as RESTORE_ACCEPTED."""
    clean_reason = validation.reason(reason)
    with workspace.open_refused_copy(path) as ws:
        found = workspace.rollback_problem(ws)
        if found is None:
            raise ValidationError(f"The workspace at {path} opens as it is: there is no "
                                  "refused restore to accept, and nothing was changed.")
        why, from_counter, db_counter = found
        session = auth.sign_in(ws, email, password)  # a failure is logged as usual
        with run(session) as s:
            require_admin(s, session, "workspace.accept_restore")
            log_event(s, ws, Ev.RESTORE_ACCEPTED, session.tenant_id, session.user_id,
                      {"from_counter": from_counter, "to_counter": db_counter, "why": why,
                       "reason": clean_reason})
        workspace.reanchor(ws)  # after the event, so the anchor covers it
    return Accepted(from_counter, db_counter, why)
