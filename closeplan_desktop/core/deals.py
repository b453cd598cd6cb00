"""Deal use cases: create, edit, delete (tombstone), restore, list, search, summarise,
reveal PHI (and break-glass), import from CSV.

Permissions (DESIGN.md section 5): every user lists, searches and creates; edit, delete,
restore and reveal are for the deal's creator and admins; a USER reveals another's PHI
only by break-glass, with a typed reason. Anything of another tenant answers as missing
and is logged as denied. Lists never decrypt PHI.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Select, func, literal, literal_column, select, text, tuple_
from sqlalchemy.orm import Session

from . import chain, crypto, db, search, validation
from .audit import RESOURCE_DEAL, log_access, log_event
from .auth import AuthSession, actor
from .clock import iso, utcnow
from .errors import BreakGlassRequired, CryptoError, KeyringError, NotFoundError, ValidationError
from .events import SecurityEventType as Ev
from .ids import is_id, new_id
from .keys import active_version, phi_key
from .keystore import AUDIT_SLOT
from .models import (
    AccessAction,
    AccessType,
    Deal,
    DealStat,
    DealStatus,
    User,
    UserRole,
    cents_to_decimal,
)
from .outbox import record_row
from .progress import CancelToken, Progress, no_progress
from .usecase import Denied, run

SORT_COLUMNS: Final = ("updated_at", "created_at", "title", "value", "status")
MAX_IMPORT_BYTES = 512 * 1024 * 1024
_UNSET: Any = object()


@dataclass(frozen=True)
class DealSummary:
    """A deal as lists and details show it: never its PHI."""

    id: str
    title: str
    status: DealStatus
    value: Decimal
    created_by_id: str
    created_by_name: str
    has_phi: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class DealQuery:
    status: DealStatus | None = None
    search: str = ""
    sort: str = "updated_at"
    descending: bool = True
    deleted: bool = False


@dataclass(frozen=True)
class PipelineRow:
    status: DealStatus
    count: int
    total: Decimal


def _summary_select() -> Select[Any]:
    return select(Deal.id, Deal.title, Deal.status, Deal.value, Deal.created_by_id,
                  (User.first_name + " " + User.last_name), Deal.phi.is_not(None),
                  Deal.created_at, Deal.updated_at, Deal.deleted_at
                  ).join(User, User.id == Deal.created_by_id)


def _summary(row: Any) -> DealSummary:
    return DealSummary(*row)


def _deal_summary(s: Session, deal: Deal) -> DealSummary:
    row = s.execute(_summary_select().where(Deal.id == deal.id)).one()
    return _summary(row)


def _filtered(q: Select[Any], tenant_id: str, query: DealQuery, *,
              searched: bool = True) -> Select[Any]:
    """The list's conditions; the search's only with `searched` (the index plan)."""
    q = q.where(Deal.tenant_id == tenant_id)
    q = q.where(Deal.deleted_at.is_not(None) if query.deleted else Deal.deleted_at.is_(None))
    if query.status is not None:
        q = q.where(Deal.status == validation.status(query.status))
    if searched and search.fts_query(query.search):
        q = q.where(search.in_matches(query.search))
    return q


def _check_query(query: DealQuery) -> None:
    if query.sort not in SORT_COLUMNS:
        raise ValidationError(f"Sort must be one of {', '.join(SORT_COLUMNS)}.")
    if not isinstance(query.search, str) or len(query.search) > 200:
        raise ValidationError("Search must be text of at most 200 characters.")


class _Cursors:
    """Where the last page of each list ended, so that the next page (offset = rows
    already shown, as a scrolling view asks) continues from that row's sort key through
    the index instead of counting `offset` rows again. Kept per open workspace."""

    SIZE = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: dict[tuple[str, DealQuery], tuple[int, Any, str]] = {}

    def get(self, tenant_id: str, query: DealQuery, offset: int) -> tuple[Any, str] | None:
        with self._lock:
            end = self._ends.get((tenant_id, query))
        return (end[1], end[2]) if end is not None and end[0] == offset else None

    def put(self, tenant_id: str, query: DealQuery, offset: int, last: Any, last_id: str) -> None:
        with self._lock:
            self._ends.pop((tenant_id, query), None)
            self._ends[(tenant_id, query)] = (offset, last, last_id)
            while len(self._ends) > self.SIZE:
                self._ends.pop(next(iter(self._ends)))


def _cursors(session: AuthSession) -> _Cursors:
    ws = session.ws
    found = ws.__dict__.get("_deal_cursors")
    if found is None:
        found = ws.__dict__.setdefault("_deal_cursors", _Cursors())
    return found  # type: ignore[no-any-return]


def page_select(tenant_id: str, query: DealQuery, *, offset: int = 0, limit: int = 100,
                after: tuple[Any, str] | None = None) -> Select[Any]:
    """The SQL of one page of a list by the sort index (checked arguments): by `offset`,
    or after the row whose (sort value, id) is `after`. A search's cheaper plans are in
    `_page`; the warm-up runs this for a tenant that cannot exist."""
    q = _filtered(_summary_select(), tenant_id, query)
    if after is None:
        return q.order_by(*_order(query)).offset(offset).limit(limit)
    return _after(q, query, after).order_by(*_order(query)).limit(limit)


def list_deals(session: AuthSession, query: DealQuery = DealQuery(), *, offset: int = 0,
               limit: int = 100, after: tuple[Any, str] | None = None) -> list[DealSummary]:
    """One page of the tenant's deals, sorted, filtered and searched in SQL.

    Every sort ends in the id, and every sort has an index ending in the id (0003), so a
    page is an index range. `after` (the row's sort value and id) starts the page after
    that row; and when `offset` is where this list's previous page ended, the page
    continues from that row's key too (keyset paging) rather than skipping `offset` rows.
    """
    _check_query(query)
    offset, limit = validation.page(offset, limit)
    cursors = _cursors(session)
    explicit = after is not None
    if explicit:
        if not (isinstance(after, tuple) and len(after) == 2 and is_id(after[1])):
            raise ValidationError("after must be a (sort value, deal id) pair.")
        offset = 0
    with run(session, write=False) as s:
        actor(s, session)
        if after is None and offset:
            after = cursors.get(session.tenant_id, query, offset)
        page = _page(s, session.tenant_id, query, offset, limit, after)
    if page and not explicit:
        last = page[-1]
        cursors.put(session.tenant_id, query, offset + len(page), getattr(last, query.sort),
                    last.id)
    return page


_ROWID = literal_column("deals.rowid")
# Search plans (core/search.py). A walk tests each row it reads; building the set of
# matches costs less per match. The walk wins when matches**2 > WALK_FACTOR * rows (both
# measured on this machine: about 9% of a million deals); a walk reads at most WALK_ROWS
# rows before the set-based plans take over.
WALK_FACTOR = 8000
WALK_ROWS = 4000
# Matches few enough to read from FTS5 and sort; more go through the sort index.
SORT_MATCHES_AT_MOST = 2000
# Matches FTS5 reads (in rowid order) to estimate how many there are.
SAMPLE_MATCHES = 500


def _order(query: DealQuery, on: Any = None) -> list[Any]:
    column = getattr(Deal, query.sort) if on is None else on[0]
    ident = Deal.id if on is None else on[1]
    return [column.desc(), ident.desc()] if query.descending else [column.asc(), ident.asc()]


def _after(q: Select[Any], query: DealQuery, after: tuple[Any, str] | None) -> Select[Any]:
    if after is None:
        return q
    column = getattr(Deal, query.sort)
    key = tuple_(column, Deal.id)
    # Typed binds: the key is compared in its stored form (ISO text, cents).
    bound = tuple_(literal(after[0], column.type), literal(after[1], Deal.id.type))
    return q.where(key < bound if query.descending else key > bound)


def _page(s: Session, tenant_id: str, query: DealQuery, offset: int, limit: int,
          after: tuple[Any, str] | None) -> list[DealSummary]:
    """One page of a list, by the plan that stays cheap for it (core/search.py)."""
    if search.fts_query(query.search) and not offset:
        plan = _search_plan(s, query)
        if plan == "walk":
            walked = _walk(s, tenant_id, query, after, _summary_select(), limit)
            if len(walked) == limit:
                return [_summary(r) for r in walked]
            plan = _search_plan(s, query, walked=True)
        if plan == "sort":
            # Few matches: read them through FTS5 and sort them; the unary plus keeps
            # SQLite from walking the sort index instead.
            q = _after(_filtered(_summary_select(), tenant_id, query), query, after)
            direction = "DESC" if query.descending else "ASC"
            q = q.order_by(text(f"+deals.{query.sort} {direction}, +deals.id {direction}"))
            return [_summary(r) for r in s.execute(q.limit(limit))]
    q = page_select(tenant_id, query, offset=offset, limit=limit, after=after)
    return [_summary(r) for r in s.execute(q)]


def _search_plan(s: Session, query: DealQuery, *, walked: bool = False) -> str:
    """"walk", "sort" or "index" (see core/search.py) for a search."""
    walkable = search.simple_words(query.search) is not None
    if walkable and not walked and _one_letter(query):
        # One letter matches a large share of titles, and FTS5 would merge every term
        # it starts before answering anything: walk first.
        return "walk"
    matches, rows = _estimate_matches(s, query)
    if matches <= SORT_MATCHES_AT_MOST:
        return "sort"
    if walkable and not walked and matches * matches > WALK_FACTOR * rows:
        return "walk"
    return "index"


def _one_letter(query: DealQuery) -> bool:
    return min(map(len, search.words(query.search)), default=0) == 1


def _estimate_matches(s: Session, query: DealQuery) -> tuple[int, int]:
    """About how many deals of every tenant match, and how many deals there are: FTS5
    answers in rowid order, so the rowid of its SAMPLE_MATCHES-th match tells the share."""
    conn = s.connection()
    rows = int(conn.exec_driver_sql("SELECT max(rowid) FROM deals").scalar() or 0)
    sample = [r[0] for r in conn.execute(text(
        "SELECT rowid FROM deals_fts WHERE deals_fts MATCH :fts LIMIT :n"),
        {"fts": search.fts_query(query.search), "n": SAMPLE_MATCHES})]
    if len(sample) < SAMPLE_MATCHES:
        return len(sample), rows
    return SAMPLE_MATCHES * rows // max(1, sample[-1]), rows


def _walk(s: Session, tenant_id: str, query: DealQuery, after: tuple[Any, str] | None,
          columns: Select[Any], want: int) -> list[Any]:
    """Up to `want` matching rows (of `columns`, a select from deals) among the first
    WALK_ROWS rows of the list after `after`, in order. Only for a search whose words
    `search.simple_words` accepts (the plans choose a walk only then)."""
    condition = search.walk_condition(query.search)
    assert condition is not None
    column = getattr(Deal, query.sort)
    window = _after(_filtered(select(_ROWID.label("rid"), column.label("k"),
                                     Deal.id.label("i")), tenant_id, query, searched=False),
                    query, after).order_by(*_order(query)).limit(WALK_ROWS).subquery("walk")
    q = (columns.join(window, _ROWID == window.c.rid).where(condition)
         .order_by(*_order(query, (window.c.k, window.c.i))).limit(want))
    return list(s.execute(q))


def _count_streamed(s: Session, tenant_id: str, query: DealQuery, at_most: int) -> int:
    """Matches of a search counted up to `at_most` + 1, reading FTS5's matches in order
    and each one's deal (nothing is built for every match)."""
    conditions = ["deals_fts MATCH :fts", "deals.tenant_id = :t",
                  "deals.deleted_at IS NOT NULL" if query.deleted else "deals.deleted_at IS NULL"]
    params: dict[str, Any] = {"fts": search.fts_query(query.search), "t": tenant_id,
                              "n": at_most + 1}
    if query.status is not None:
        conditions.append("deals.status = :st")
        params["st"] = validation.status(query.status).value
    # CROSS JOIN: SQLite keeps FTS5 as the outer loop.
    sql = ("SELECT count(*) FROM (SELECT 1 FROM deals_fts CROSS JOIN deals ON "  # noqa: S608
           f"deals.rowid = deals_fts.rowid WHERE {' AND '.join(conditions)} LIMIT :n)")
    return int(s.execute(text(sql), params).scalar() or 0)


def stats(s: Session, tenant_id: str, deleted: bool) -> list[tuple[str, int, Any]]:
    """Count and total cents per status of a tenant's live or deleted deals (deal_stats)."""
    return [(st, n, total) for st, n, total in s.execute(
        select(DealStat.status, DealStat.count, DealStat.total)
        .where(DealStat.tenant_id == tenant_id, DealStat.deleted == int(deleted)))]


def count_deals(session: AuthSession, query: DealQuery = DealQuery(), *,
                at_most: int | None = None) -> int:
    """How many deals a list holds. Unsearched lists read the per-status counters that
    triggers keep (0003) instead of counting rows.

    With `at_most`, a search stops counting past that many and answers `at_most + 1`
    ("more than at_most"): a broad prefix can match most of a million titles.
    """
    _check_query(query)
    if at_most is not None and (not isinstance(at_most, int) or at_most < 0):
        raise ValidationError("at_most must be a whole number of zero or more.")
    with run(session, write=False) as s:
        actor(s, session)
        if not search.fts_query(query.search):
            status = validation.status(query.status) if query.status is not None else None
            return sum(n for st, n, _ in stats(s, session.tenant_id, query.deleted)
                       if status is None or st == status.value)
        if at_most is None:
            q = _filtered(select(func.count()).select_from(Deal), session.tenant_id, query)
            return s.scalar(q) or 0
        # Past at_most the answer is "more". FTS5 streams its matches, except that it
        # merges every term a one-letter prefix starts before the first one: walk those.
        if _one_letter(query) and search.simple_words(query.search) is not None:
            walked = _walk(s, session.tenant_id, query, None, select(Deal.id), at_most + 1)
            if len(walked) > at_most:
                return at_most + 1
        return _count_streamed(s, session.tenant_id, query, at_most)


def pipeline(session: AuthSession) -> list[PipelineRow]:
    """Count and exact total value per status of the tenant's live deals.

    Read from the counters that triggers keep (0003). A total that overflowed SQLite's
    64-bit integers reads back as a float; that status is then summed exactly here.
    """
    where = (Deal.tenant_id == session.tenant_id, Deal.deleted_at.is_(None))
    found: dict[DealStatus, tuple[int, Decimal]] = {}
    with run(session, write=False) as s:
        actor(s, session)
        inexact = []
        for st, n, total in stats(s, session.tenant_id, False):
            if isinstance(total, int):
                found[DealStatus(st)] = (n, cents_to_decimal(total))
            else:
                inexact.append(st)
        for st in inexact:
            tot = Decimal("0.00")
            n = 0
            for (amount,) in s.execute(select(Deal.value).where(*where, Deal.status == st)):
                n += 1
                tot += amount
            found[DealStatus(st)] = (n, tot)
    zero = (0, Decimal("0.00"))
    return [PipelineRow(st, *found.get(st, zero)) for st in DealStatus]


def _denied_missing(session: AuthSession, deal_id: object, action: AccessAction,
                    access_type: AccessType, found: Deal | None) -> Denied:
    """Missing and other-tenant deals answer alike; both are logged as denied."""
    other_tenant_id = found.id if found is not None else None

    def record(s: Session) -> None:
        if other_tenant_id is not None:
            log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=other_tenant_id, action=action, access_type=access_type,
                       success=False)
        else:
            log_event(s, session.ws, Ev.ACCESS_DENIED, session.tenant_id, session.user_id,
                      {"action": action.value,
                       "deal": deal_id if is_id(deal_id) else "(not an id)"})

    return Denied(NotFoundError("No such deal in your workspace."), record)


def _deal(s: Session, session: AuthSession, deal_id: object, action: AccessAction,
          access_type: AccessType) -> Deal:
    deal = s.get(Deal, deal_id) if is_id(deal_id) else None
    if deal is None or deal.tenant_id != session.tenant_id:
        raise _denied_missing(session, deal_id, action, access_type, deal)
    return deal


def may_change(session: AuthSession, created_by_id: str) -> bool:
    """Whether the session may edit, delete, restore and reveal (without break-glass) a
    deal made by `created_by_id`: its creator and admins may (DESIGN.md section 5)."""
    return session.role == UserRole.ADMIN or created_by_id == session.user_id


def needs_break_glass(session: AuthSession, created_by_id: str) -> bool:
    """Whether revealing the PHI of such a deal needs a typed reason."""
    return not may_change(session, created_by_id)


def _owned(s: Session, session: AuthSession, deal_id: object, action: AccessAction) -> Deal:
    """A deal the actor may change: their own, or any if admin; else logged and refused."""
    user = actor(s, session)
    deal = _deal(s, session, deal_id, action, AccessType.WRITE)
    if user.role != UserRole.ADMIN and deal.created_by_id != user.id:
        deal_id_ok = deal.id

        def record(s2: Session) -> None:
            log_access(s2, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=deal_id_ok, action=action, access_type=AccessType.WRITE,
                       success=False)

        from .errors import PermissionDenied

        raise Denied(PermissionDenied("Only the deal's owner or an administrator can change "
                                      "it."), record)
    return deal


def get_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """A deal of the tenant, without PHI."""
    with run(session, write=False) as s:
        actor(s, session)
        deal = s.get(Deal, deal_id) if is_id(deal_id) else None
        if deal is None or deal.tenant_id != session.tenant_id:
            raise _denied_missing(session, deal_id, AccessAction.PHI_ACCESS, AccessType.READ,
                                  deal)
        return _deal_summary(s, deal)


def _encrypt(session: AuthSession, s: Session, deal_id: str,
             phi: dict[str, str] | None) -> tuple[str | None, int | None]:
    if not phi:
        return None, None
    version = active_version(s, session.tenant_id)
    key = phi_key(session.ws, session.tenant_id, version)
    return crypto.encrypt_phi(key, version, session.tenant_id, deal_id, phi), version


def create_deal(session: AuthSession, title: str, status: DealStatus | str,
                value: Decimal | str | int, phi: dict[str, str] | str | None = None
                ) -> DealSummary:
    """Any user: create a deal (owned by the actor), its audit row and its outbox row."""
    clean_title = validation.title(title)
    clean_status = validation.status(status)
    amount = validation.money(value)
    clean_phi = validation.phi(phi)
    with run(session) as s:
        user = actor(s, session)
        deal_id = new_id()
        envelope, version = _encrypt(session, s, deal_id, clean_phi)
        now = utcnow()
        deal = Deal(id=deal_id, title=clean_title, status=clean_status, value=amount,
                    phi=envelope, phi_key_version=version, tenant_id=session.tenant_id,
                    created_by_id=user.id, created_at=now, updated_at=now)
        s.add(deal)
        s.flush()
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=user.id,
                   deal_id=deal_id, action=AccessAction.DEAL_CREATE,
                   access_type=AccessType.WRITE, success=True)
        record_row(s, deal, "create")
        return _deal_summary(s, deal)


def update_deal(session: AuthSession, deal_id: str, *, title: Any = _UNSET,
                status: Any = _UNSET, value: Any = _UNSET, phi: Any = _UNSET) -> DealSummary:
    """Owner or admin: change fields of a deal. `phi` replaces the PHI (None clears it)."""
    changes: dict[str, Any] = {}
    if title is not _UNSET:
        changes["title"] = validation.title(title)
    if status is not _UNSET:
        changes["status"] = validation.status(status)
    if value is not _UNSET:
        changes["value"] = validation.money(value)
    new_phi = validation.phi(phi) if phi is not _UNSET else _UNSET
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_UPDATE)
        if deal.deleted_at is not None:
            raise ValidationError("This deal is deleted; restore it before editing.")
        for key, val in changes.items():
            setattr(deal, key, val)
        if new_phi is not _UNSET:
            deal.phi, deal.phi_key_version = _encrypt(session, s, deal.id, new_phi)
        deal.updated_at = utcnow()
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                   deal_id=deal.id, action=AccessAction.DEAL_UPDATE,
                   access_type=AccessType.WRITE, success=True)
        record_row(s, deal, "update")
        return _deal_summary(s, deal)


def delete_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """Owner or admin: delete as a tombstone (logs keep pointing at it; it can be restored)."""
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_DELETE)
        if deal.deleted_at is None:
            deal.deleted_at = deal.updated_at = utcnow()
            log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=deal.id, action=AccessAction.DEAL_DELETE,
                       access_type=AccessType.WRITE, success=True)
            record_row(s, deal, "delete")
        return _deal_summary(s, deal)


def restore_deal(session: AuthSession, deal_id: str) -> DealSummary:
    """Owner or admin: bring a deleted deal back (logged as an update)."""
    with run(session) as s:
        deal = _owned(s, session, deal_id, AccessAction.DEAL_UPDATE)
        if deal.deleted_at is not None:
            deal.deleted_at = None
            deal.updated_at = utcnow()
            log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                       deal_id=deal.id, action=AccessAction.DEAL_UPDATE,
                       access_type=AccessType.WRITE, success=True)
            record_row(s, deal, "restore")
        return _deal_summary(s, deal)


def reveal_phi(session: AuthSession, deal_id: str, reason: str | None = None) -> dict[str, str]:
    """Decrypt a deal's PHI for display, after committing its access-log row.

    The owner and admins reveal directly. A USER revealing another's deal must give a
    reason (break-glass): the row carries it and a BREAK_GLASS event flags it. Without a
    reason the attempt is logged as refused. If the log row cannot be written, nothing is
    shown.
    """
    with run(session) as s:
        user = actor(s, session)
        deal = _deal(s, session, deal_id, AccessAction.PHI_ACCESS, AccessType.READ)
        break_glass = user.role != UserRole.ADMIN and deal.created_by_id != user.id
        clean_reason = None
        if break_glass:
            if reason is None or (isinstance(reason, str) and not reason.strip()):
                raise Denied(
                    BreakGlassRequired("This deal belongs to another user: give a reason to "
                                       "reveal its PHI (break-glass; it is logged and "
                                       "reviewed)."),
                    _refused(session, deal.id))
            clean_reason = validation.reason(reason)
        plain: dict[str, str] = {}
        if deal.phi is not None:
            try:
                plain = crypto.decrypt_phi(
                    phi_key(session.ws, session.tenant_id, crypto.envelope_version(deal.phi)),
                    session.tenant_id, deal.id, deal.phi)
            except (CryptoError, KeyringError) as exc:
                raise Denied(exc, _refused(session, deal.id)) from None
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=user.id,
                   deal_id=deal.id, action=AccessAction.PHI_ACCESS, access_type=AccessType.READ,
                   success=True, reason=clean_reason)
        if break_glass:
            log_event(s, session.ws, Ev.BREAK_GLASS, session.tenant_id, user.id,
                      {"deal": deal.id, "owner": deal.created_by_id})
    return plain


def _refused(session: AuthSession, deal_id: str) -> Any:
    def record(s: Session) -> None:
        log_access(s, session.ws, tenant_id=session.tenant_id, user_id=session.user_id,
                   deal_id=deal_id, action=AccessAction.PHI_ACCESS, access_type=AccessType.READ,
                   success=False)
    return record


# ---- import -------------------------------------------------------------------------

IMPORT_REQUIRED = ("title", "status", "value")
PHI_PREFIX = "phi_"
IMPORT_BATCH = 2000


def parse_import(data: bytes) -> list[dict[str, Any]]:
    """Read and check a deals CSV: every row valid or nothing (the first error, by line).

    Columns: title, status, value (required); phi_<field> columns hold PHI fields.
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError("The CSV file is too large (at most 512 MiB).")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(f"Line {line}: the CSV is not UTF-8 text; save it as UTF-8 "
                              "and try again.") from None
    if "\x00" in content:
        raise ValidationError("The file holds NUL bytes: it is not a CSV text file.")
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("The CSV file is empty; it needs a header line "
                              "(title,status,value).") from None
    except csv.Error as exc:
        raise ValidationError(f"Line 1: the CSV is malformed ({exc}).") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in IMPORT_REQUIRED if c not in columns]
    if missing:
        raise ValidationError(f"The CSV header lacks the column(s) {', '.join(missing)}; "
                              "expected title,status,value and optional phi_<field> columns.")
    for c in columns:
        if c not in IMPORT_REQUIRED and not (c.startswith(PHI_PREFIX) and
                                             validation.PHI_FIELD_RE.match(c[len(PHI_PREFIX):])):
            raise ValidationError(f"Unknown CSV column '{c[:40]}'; allowed: title, status, "
                                  "value and phi_<field> (lowercase).")
    if len(set(columns)) != len(columns):
        raise ValidationError("The CSV header names a column twice.")
    rows: list[dict[str, Any]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise ValidationError(f"Line {line}: expected {len(columns)} fields, found "
                                      f"{len(record)}.")
            cells = dict(zip(columns, record, strict=True))
            try:
                phi = validation.phi({c[len(PHI_PREFIX):]: v for c, v in cells.items()
                                      if c.startswith(PHI_PREFIX) and v.strip()})
                rows.append({"title": validation.title(cells["title"]),
                             "status": validation.status(cells["status"]),
                             "value": validation.money(cells["value"]), "phi": phi})
            except ValidationError as exc:
                raise ValidationError(f"Line {line}: {exc}") from None
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV is malformed ({exc}).") from None
    if not rows:
        raise ValidationError("The CSV file holds no deals.")
    return rows


_DEAL_INSERT = ("INSERT INTO deals (id, title, status, value, phi, tenant_id, created_by_id, "
                "created_at, updated_at, deleted_at, phi_key_version, row_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0)")
_LOG_INSERT = ("INSERT INTO access_logs (id, user_id, deal_id, action, access_type, "
               "resource_type, success, timestamp, tenant_id, device_id, seq, chain_hash, "
               "reason, row_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)")
_OUTBOX_INSERT = ("INSERT INTO outbox (tenant_id, entity, entity_id, op, payload, created_at) "
                  "VALUES (?, 'deals', ?, 'create', ?, ?)")


def import_deals(session: AuthSession, rows: list[dict[str, Any]],
                 progress: Progress = no_progress, cancel: CancelToken | None = None) -> int:
    """Create many deals in one transaction (all or nothing), each with its audit row
    and outbox row. `rows` come from `parse_import`.

    The rows go in by prepared statements, a batch at a time, with the audit chain's
    links computed for the whole batch at once (`chain.next_links`): the same rows,
    hashes and outbox payloads as `create_deal` writes, without an ORM object per row.
    """
    total = len(rows)
    ws = session.ws
    tenant_id, device_id = session.tenant_id, ws.device_id
    encode = json.encoder.encode_basestring_ascii  # what json.dumps does to a str
    with run(session) as s:
        user = actor(s, session)
        user_id = user.id
        version = active_version(s, tenant_id)
        sealer = crypto.PhiSealer(phi_key(ws, tenant_id, version), version, tenant_id)
        audit_key = ws.keys.require(AUDIT_SLOT, "audit key")
        conn = s.connection()
        progress(0, total)
        with db.bulk_cache(conn):
            for start in range(0, total, IMPORT_BATCH):
                if cancel:
                    cancel.check()
                stamp = iso(utcnow())
                deals, logs, outbox = [], [], []
                for row in rows[start:start + IMPORT_BATCH]:
                    deal_id = new_id()
                    phi = row["phi"]
                    title = row["title"]
                    status = DealStatus(row["status"]).value
                    amount = Decimal(row["value"])
                    cents = int((amount * 100).to_integral_exact())
                    envelope = sealer.seal(deal_id, phi) if phi else None
                    key_version = version if phi else None
                    deals.append((deal_id, title, status, cents, envelope, tenant_id, user_id,
                                  stamp, stamp, key_version))
                    logs.append({"id": new_id(), "user_id": user_id, "deal_id": deal_id,
                                 "action": "DEAL_CREATE", "access_type": "WRITE",
                                 "resource_type": RESOURCE_DEAL, "success": True,
                                 "timestamp": stamp, "tenant_id": tenant_id,
                                 "device_id": device_id, "reason": None})
                    # The outbox payload `snapshot` makes of the row: sorted keys, compact.
                    outbox.append((tenant_id, deal_id, (
                        f'{{"created_at":"{stamp}","created_by_id":"{user_id}",'
                        f'"deleted_at":null,"id":"{deal_id}",'
                        f'"phi":{"null" if envelope is None else encode(envelope)},'
                        f'"phi_key_version":{"null" if key_version is None else key_version},'
                        f'"row_version":0,"status":"{status}","tenant_id":"{tenant_id}",'
                        f'"title":{encode(title)},"updated_at":"{stamp}",'
                        f'"value":{encode(str(amount))}}}'), stamp))
                chain.next_links(s, audit_key, "access_logs", device_id, logs)
                conn.exec_driver_sql(_DEAL_INSERT, deals)
                conn.exec_driver_sql(_OUTBOX_INSERT, outbox)
                conn.exec_driver_sql(_LOG_INSERT, [
                    (r["id"], user_id, r["deal_id"], "DEAL_CREATE", "WRITE", RESOURCE_DEAL, 1,
                     stamp, tenant_id, device_id, r["seq"], r["chain_hash"]) for r in logs])
                progress(min(start + IMPORT_BATCH, total), total)
        log_event(s, ws, Ev.DEALS_IMPORTED, tenant_id, user_id, {"count": total})
    return total


__all__ = [
    "DealQuery", "DealSummary", "PipelineRow", "count_deals", "create_deal", "delete_deal",
    "get_deal", "import_deals", "list_deals", "parse_import", "pipeline", "restore_deal",
    "reveal_phi", "update_deal",
]
