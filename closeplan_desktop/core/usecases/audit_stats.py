"""Audit statistics: PHI reveals per user and UTC day, with unusual days flagged.

An admin use case over `access_logs`, scoped to the session's tenant. The rule that makes
a day unusual lives here (not in any UI): a day is unusual when the user revealed more
than `UNUSUAL_MEDIAN_FACTOR` times their median daily reveals over the returned period
(and more than `UNUSUAL_MIN_REVEALS`), or when any reveal that day was break-glass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median

from sqlalchemy import String, case, func, select

from ..domain.enums import AccessAction, AccessType
from ..store.models import AccessLog, User
from . import frame
from .frame import AuthSession, run

# A day is unusual when reveals > max(UNUSUAL_MIN_REVEALS, UNUSUAL_MEDIAN_FACTOR x median).
UNUSUAL_MIN_REVEALS = 20
UNUSUAL_MEDIAN_FACTOR = 3
# Any break-glass access makes its day unusual.
UNUSUAL_BREAK_GLASS_MIN = 1

UNUSUAL_RULE = (f"more than {UNUSUAL_MEDIAN_FACTOR}× the user's usual daily reveals "
                f"(and more than {UNUSUAL_MIN_REVEALS}), or any break-glass access")


@dataclass(frozen=True)
class RevealStat:
    """One user's PHI reveals on one UTC day."""

    user_id: str
    user_email: str
    user_name: str
    day: date
    reveals: int  # successful PHI_ACCESS/READ rows
    refused: int  # refused PHI_ACCESS/READ rows
    break_glass: int  # rows that carry a break-glass reason
    unusual: bool
    usual_reveals: float  # the user's median daily reveals over the returned period
    why: str  # why the day is unusual ("" when it is not)


def unusual_threshold(usual_reveals: float) -> float:
    """The number of reveals in a day above which that day is unusual for a user whose
    median daily reveals is `usual_reveals`."""
    return max(UNUSUAL_MIN_REVEALS, UNUSUAL_MEDIAN_FACTOR * usual_reveals)


def _why(reveals: int, break_glass: int, usual: float) -> str:
    reasons = []
    if break_glass >= UNUSUAL_BREAK_GLASS_MIN:
        reasons.append(f"{break_glass} break-glass access{'es' if break_glass != 1 else ''}")
    if reveals > unusual_threshold(usual):
        reasons.append(f"{reveals} reveals, more than {UNUSUAL_MEDIAN_FACTOR}× the usual "
                       f"{usual:g} a day")
    return "; ".join(reasons)


def reveals_per_user_day(session: AuthSession, since: datetime | None = None,
                         until: datetime | None = None) -> list[RevealStat]:
    """Admin use case: the tenant's PHI reveals grouped by user and UTC day.

    Counts `PHI_ACCESS`/`READ` access-log rows with `since <= timestamp < until` (either
    bound optional): successful reveals, refused attempts and break-glass reveals (rows
    with a reason). Each row says whether its day is unusual for that user (see the module
    docstring and `UNUSUAL_RULE`). Newest day first, then by user email.
    """
    day = func.substr(AccessLog.timestamp, 1, 10, type_=String)
    q = (select(AccessLog.user_id, User.email, User.first_name, User.last_name,
                day.label("day"),
                func.sum(case((AccessLog.success.is_(True), 1), else_=0)),
                func.sum(case((AccessLog.success.is_(True), 0), else_=1)),
                func.count(AccessLog.reason))
         .join(User, User.id == AccessLog.user_id)
         .where(AccessLog.tenant_id == session.tenant_id,
                AccessLog.action == AccessAction.PHI_ACCESS,
                AccessLog.access_type == AccessType.READ)
         .group_by(AccessLog.user_id, day)
         .order_by(day.desc(), User.email))
    if since is not None:
        q = q.where(AccessLog.timestamp >= since)
    if until is not None:
        q = q.where(AccessLog.timestamp < until)
    with run(session, write=False) as s:
        frame.require_admin(s, session, "audit.read")
        rows = s.execute(q).all()
    return from_counts((uid, email, f"{first} {last}", date.fromisoformat(day_text),
                        int(reveals or 0), int(refused or 0), int(glass or 0))
                       for uid, email, first, last, day_text, reveals, refused, glass in rows)


DayCounts = tuple[str, str, str, date, int, int, int]


def from_counts(rows: Iterable[DayCounts]) -> list[RevealStat]:
    """RevealStats, each day judged by the rule above, from counts per user and day:
    (user id, email, name, day, reveals, refused, break-glass), in the order given. The
    tenant-wide view (core.sync.audit_views) counts on the server and judges here."""
    rows = list(rows)
    per_user: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        per_user[r[0]].append(r[4])
    usual = {uid: float(median(counts)) for uid, counts in per_user.items()}
    stats = []
    for uid, email, name, day, reveals, refused, glass in rows:
        why = _why(reveals, glass, usual[uid])
        stats.append(RevealStat(uid, email, name, day, reveals, refused, glass, bool(why),
                                usual[uid], why))
    return stats
