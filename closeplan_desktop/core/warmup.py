"""Warm-up before sign-in: prime the caches that the first sign-in and the first page of
deals would otherwise fill while the user waits.

It runs the same statements as sign-in (`auth.user_by_email`, the throttle), the acting
user's check (`auth.actor`), the tenant's name, the pipeline counters and the first page
of the deals list, each for an id that cannot exist (ids are cuids; these have a space).
So SQLAlchemy compiles and caches those statements, and the pooled connection prepares
them and reads the schema and the index pages on their way, while no row of any tenant
is read. It writes nothing, so no audit row appears.
"""

from __future__ import annotations

from datetime import UTC, datetime

from . import auth, db, deals
from .models import LoginThrottle, Tenant, UserRole
from .usecase import Denied
from .workspace import Workspace

NO_ID = "warm-up: no such id"
NO_EMAIL = "warm-up@no-such-email.invalid"


def warm_up(ws: Workspace) -> None:
    """Prime the statement caches for sign-in and the first deals page (reads no rows)."""
    nobody = auth.AuthSession(ws, NO_ID, NO_ID, NO_EMAIL, UserRole.USER, "",
                              datetime.now(UTC))
    with db.read_session(ws.engine) as s:
        s.get(LoginThrottle, NO_EMAIL)
        auth.user_by_email(s, NO_EMAIL)
        try:
            auth.actor(s, nobody)
        except Denied:  # expected: nobody is not a user (nothing is recorded here)
            pass
        s.get(Tenant, NO_ID)
        deals.stats(s, NO_ID, False)
        s.execute(deals.page_select(NO_ID, deals.DealQuery(), limit=1)).all()
