"""Warm-up before sign-in: prime the caches that the first sign-in and the first page of
deals would otherwise fill while the user waits.

It runs the same statements as sign-in (`auth.user_by_email`, the throttle), the acting
user's check (`frame.actor`), the tenant's name, the pipeline counters and the first page
of the deals list, each for an id that cannot exist (ids are cuids; these have a space).
So SQLAlchemy compiles and caches those statements, and the pooled connection prepares
them and reads the schema and the index pages on their way, while no row of any tenant
is read. It writes nothing, so no audit row appears.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..domain.enums import UserRole
from ..store import db
from ..store.models import LoginThrottle, Tenant
from ..store.workspace import Workspace
from ..usecases import auth, deal_list, frame
from ..usecases.frame import Denied

NO_ID = "warm-up: no such id"
NO_EMAIL = "warm-up@no-such-email.invalid"


def warm_up(ws: Workspace) -> None:
    """Prime the statement caches for sign-in and the first deals page (reads no rows)."""
    nobody = frame.AuthSession(ws, NO_ID, NO_ID, NO_EMAIL, UserRole.USER, "",
                              datetime.now(UTC))
    with db.read_session(ws.engine) as s:
        s.get(LoginThrottle, NO_EMAIL)
        auth.user_by_email(s, NO_EMAIL)
        try:
            frame.actor(s, nobody)
        except Denied:  # expected: nobody is not a user (nothing is recorded here)
            pass
        s.get(Tenant, NO_ID)
        deal_list.stats(s, NO_ID, False)
        s.execute(deal_list.page_select(NO_ID, deal_list.DealQuery(), limit=1)).all()
