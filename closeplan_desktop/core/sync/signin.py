"""Signing in on a connected laptop: offline by the user's key slot, or, for a user of
the organisation who has no slot here yet (their first sign-in on this laptop), online
once: the server checks the password and the slot is made from it. No password hash
comes from the server."""

from __future__ import annotations

from ..domain import validation
from ..domain.errors import SyncError, ValidationError
from ..security.passwords import is_bcrypt_hash
from ..store import db, key_vault
from ..store.workspace import Workspace
from ..usecases import auth
from ..usecases.frame import AuthSession
from .engine import CONNECTED, connection
from .transport import Transport


def sign_in(ws: Workspace, email: str, password: str) -> AuthSession:
    """`auth.sign_in`, after an online check that makes the user's key slot when this
    connected laptop has none for them. A refused or failed online check changes
    nothing: the offline sign-in then refuses (and logs) as it would."""
    conn = connection(ws)
    if conn is not None and conn.status == CONNECTED and password:
        try:
            user_id = _without_slot(ws, validation.email(email))
        except ValidationError:  # the offline sign-in says what is wrong
            user_id = None
        if user_id is not None:
            try:
                with Transport(conn.url) as transport:  # no keyring: no token kept
                    who = transport.sign_in(email, password)
            except SyncError:
                who = None
            if who is not None and (who.user_id, who.tenant_id) == (user_id, conn.tenant_id):
                auth.make_slot(ws, user_id, password)
    return auth.sign_in(ws, email, password)


def _without_slot(ws: Workspace, email: str) -> str | None:
    """The id of the active local user `email` when they have no key slot and no
    imported hash here (a user the sync brought), else None."""
    with db.read_session(ws.engine) as s:
        user = auth.user_by_email(s, email)
        if user is None or user.deactivated_at is not None or is_bcrypt_hash(user.password):
            return None
        return None if key_vault.has_slot(s, user.id) else user.id
