"""Who a deal can belong to (issue 15): the tenant's active users, for the owner
choices of the deal form, the list's owner filter and the CLI. Every user may read
these (names and emails, as the deal lists already show owners)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..store.models import User
from .frame import AuthSession, actor, run


@dataclass(frozen=True)
class OwnerChoice:
    """An active user a deal may be given to."""

    id: str
    name: str
    email: str


def owner_choices(session: AuthSession) -> list[OwnerChoice]:
    """The tenant's active users by name (the signed-in user among them)."""
    with run(session, write=False) as s:
        actor(s, session)
        rows = s.execute(select(User.id, User.first_name, User.last_name, User.email)
                         .where(User.tenant_id == session.tenant_id,
                                User.deactivated_at.is_(None))
                         .order_by(User.last_name, User.first_name, User.id))
        return [OwnerChoice(uid, f"{first} {last}", email) for uid, first, last, email in rows]
