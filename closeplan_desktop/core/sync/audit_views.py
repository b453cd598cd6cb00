"""The whole organisation's audit, read from the server's admin views (issue 12, "Audit
upload": an admin's Audit pane shows every device's rows, and "PHI reveals by day"
becomes tenant-wide).

Each read is one page through the one Transport, with the filters the local pane has
(who, what, date range, outcome; the deal; the event type), newest first, and a cursor
for the next page. Rows come back as the local use cases' entries (`core.usecases.audit`)
so that the window shows both the same way; names and deal titles come from this
laptop's mirror (an admin's laptop holds the tenant's users and deals), the server's
rows name ids only. The reveal counts per user and day are the server's; which days are
unusual is judged here by the same rule as the local view (`audit_stats.from_counts`).

Reading the audit is no view of PHI: audit rows hold none (ids, actions, outcomes, a
break-glass reason, field names), so no access-log row is written for it. The caller
must be an admin here (checked and logged as the local use cases do) and on the server
(which refuses anyone else with 403).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select

from ..domain.clock import as_utc, iso
from ..domain.errors import SyncError
from ..store.audit_log import changed_fields
from ..store.models import User
from ..usecases import audit, audit_stats, frame
from ..usecases.audit import AccessEntry, AuditFilter, EventEntry
from ..usecases.audit_stats import RevealStat
from ..usecases.frame import AuthSession
from .devices import list_devices
from .transport import Transport

PAGE = 200  # rows per page (the server allows up to 500)
SERVER_DEVICE = ""  # the device id of rows the server wrote itself (decrypt_phi, admin)
E = TypeVar("E", AccessEntry, EventEntry)
NO_FILTER = AuditFilter()


@dataclass(frozen=True)
class OrgPage(Generic[E]):
    """One page of the organisation's audit, and the cursor of the next (None: the last
    page)."""

    entries: list[E]
    next_cursor: str | None


@dataclass(frozen=True)
class OrgReveals:
    """Reveals per user and day for the whole organisation; `more`: older days were
    left out by the server's bound (narrow the dates)."""

    stats: list[RevealStat]
    more: bool


def _people(session: AuthSession) -> dict[str, tuple[str, str]]:
    """Every user of the tenant on this laptop, id -> (email, full name), after the
    admin check (a refusal is logged as for the local audit)."""
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.read")
        rows = s.execute(select(User.id, User.email, User.first_name, User.last_name)
                         .where(User.tenant_id == session.tenant_id)).all()
    return {i: (e, f"{f} {last}".strip()) for i, e, f, last in rows}


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise SyncError("The server sent an audit row without a time; update the app.")
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise SyncError("The server sent a time this app cannot read; update the app.") \
            from None


def _params(f: AuditFilter, cursor: str | None, limit: int | None) -> dict[str, Any]:
    """The query of a page (PAGE rows unless `limit`): the filter's terms, newest
    first."""
    params: dict[str, Any] = {"order": "desc", "limit": limit or PAGE}
    for name, value in (("user_id", f.user_id), ("cursor", cursor),
                        ("since", f.since and iso(as_utc(f.since))),
                        ("until", f.until and iso(as_utc(f.until)))):
        if value:
            params[name] = value
    return params


def access_page(session: AuthSession, transport: Transport, f: AuditFilter = NO_FILTER,
                cursor: str | None = None, limit: int | None = None) -> OrgPage[AccessEntry]:
    """Admin use case: one page of the organisation's access log (every device's rows
    and the server's), newest first, filtered by user, deal, action, outcome and time."""
    people = _people(session)
    params = _params(f, cursor, limit)
    if f.deal_id:
        params["deal_id"] = f.deal_id
    if f.action:
        params["action"] = str(f.action)
    if f.success is not None:
        params["success"] = "true" if f.success else "false"
    page = transport.call("GET", "/v1/admin/access-logs", params=params)
    items: list[dict[str, Any]] = list(page.get("items") or [])
    titles = audit.deal_titles(session, {str(r.get("deal_id")) for r in items
                                         if r.get("deal_id")})
    entries = [_access(r, people, titles) for r in items]
    return OrgPage(entries, page.get("next_cursor") or None)


def _access(r: dict[str, Any], people: dict[str, tuple[str, str]],
            titles: dict[str, str]) -> AccessEntry:
    user_id, deal_id = str(r["user_id"]), str(r.get("deal_id") or "")
    email = people.get(user_id, (user_id, ""))[0]
    title = titles.get(deal_id) or (f"Deal {deal_id}" if deal_id else "(no deal)")
    resource = str(r.get("resource_type") or "")
    return AccessEntry(str(r["id"]), _time(r.get("timestamp")), user_id, email, deal_id,
                       title, str(r["action"]), str(r["access_type"]), resource,
                       bool(r["success"]), r.get("reason") or None,
                       str(r.get("device_id") or SERVER_DEVICE), _seq(r),
                       changed_fields(resource))


def _seq(r: dict[str, Any]) -> int:
    """A row's place in its chain: the device's seq, or the server's own."""
    value = r.get("seq") if r.get("device_id") else r.get("server_seq")
    return int(value or 0)


def events_page(session: AuthSession, transport: Transport, f: AuditFilter = NO_FILTER,
                cursor: str | None = None, limit: int | None = None) -> OrgPage[EventEntry]:
    """Admin use case: one page of the organisation's security events (every device's
    and the server's), newest first, filtered by user, type and time."""
    people = _people(session)
    params = _params(f, cursor, limit)
    if f.event_type:
        params["type"] = f.event_type
    page = transport.call("GET", "/v1/admin/security-events", params=params)
    entries = []
    for r in page.get("items") or []:
        user_id = r.get("user_id")
        email = people[user_id][0] if user_id in people else user_id
        entries.append(EventEntry(str(r["id"]), _time(r.get("timestamp")), str(r["type"]),
                                  user_id, email, str(r.get("detail") or "{}"),
                                  str(r.get("device_id") or SERVER_DEVICE), _seq(r)))
    return OrgPage(entries, page.get("next_cursor") or None)


def reveals_by_day(session: AuthSession, transport: Transport,
                   since: datetime | None = None, until: datetime | None = None
                   ) -> OrgReveals:
    """Admin use case: the organisation's PHI reveals per user and UTC day (the server
    counts every device's rows), each day judged by `audit_stats`'s rule."""
    people = _people(session)
    params = {k: iso(as_utc(v)) for k, v in (("since", since), ("until", until)) if v}
    answer = transport.call("GET", "/v1/admin/reveals-by-day", params=params)
    counts = []
    for r in answer.get("items") or []:
        user_id = str(r["user_id"])
        email, name = people.get(user_id, (user_id, user_id))
        counts.append((user_id, email, name, date.fromisoformat(str(r["day"])),
                       int(r["reveals"]), int(r["refused"]), int(r["break_glass"])))
    return OrgReveals(audit_stats.from_counts(counts), bool(answer.get("more")))


def device_names(transport: Transport, own: Iterable[str] = ()) -> dict[str, str]:
    """The organisation's devices by id, each as its name (an admin's view); the ids in
    `own` (this laptop) read "This laptop", and the server's own rows "Server"."""
    names = {d.id: d.name for d in list_devices(transport)}
    names.update({i: "This laptop" for i in own})
    names[SERVER_DEVICE] = "Server"
    return names
