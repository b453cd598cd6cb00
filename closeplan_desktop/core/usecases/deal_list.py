"""Deal lists: one page, its count and the pipeline, sorted, filtered and searched in
SQL, never decrypting PHI.

A search's page is found by the plan that stays cheap for the share of titles that
match (a walk of the sort index, FTS5's matches sorted, or the index against the set of
matches; `core/store/search.py`); which rows match is always FTS5's answer. One
owner's or a close-date range's page in another order is found the same way
(`owner_plan`). It is long because these plans share the list's private query builders
(filters, order, keyset), which must stay one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    literal,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, aliased

from ..domain import probability, validation
from ..domain.clock import local_today
from ..domain.enums import DealStatus
from ..domain.errors import ValidationError
from ..domain.ids import is_id
from ..store import search
from ..store.models import Deal, DealForecastStat, DealStat, User, cents_to_decimal
from . import close_months
from .deal_sorts import CLOSE_KEY, SORT_COLUMNS, sort_column, sort_sql, sort_value
from .frame import AuthSession, actor, run

__all__ = ["SORT_COLUMNS", "DealQuery", "DealSummary", "sort_column", "sort_value"]



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
    owner_id: str
    owner_name: str
    expected_close_date: date | None
    probability: int | None  # as stored: None means the status default

    @property
    def effective_probability(self) -> int:
        """The probability a forecast uses (the deal's own, else its status default)."""
        return probability.effective(self.status, self.probability)

    def is_overdue(self, today: date | None = None) -> bool:
        """An open deal whose close date is before `today` (the user's local day)."""
        return (self.status in probability.OPEN and self.expected_close_date is not None
                and self.deleted_at is None
                and self.expected_close_date < (today or local_today()))


@dataclass(frozen=True)
class DealQuery:
    """What a list shows. `owner_id` keeps one owner's deals; `close_from`/`close_to`
    bound the expected close date (days included; deals without one are left out);
    `overdue` keeps open deals whose close date is before today (the local day)."""

    status: DealStatus | None = None
    search: str = ""
    sort: str = "updated_at"
    descending: bool = True
    deleted: bool = False
    owner_id: str | None = None
    close_from: date | None = None
    close_to: date | None = None
    overdue: bool = False

    @property
    def narrowed(self) -> bool:
        """Whether it filters beyond status (the per-status counters cannot answer)."""
        return (self.owner_id is not None or self.close_from is not None
                or self.close_to is not None or self.overdue)


@dataclass(frozen=True)
class PipelineRow:
    status: DealStatus
    count: int
    total: Decimal


_Owner = aliased(User, name="owners")


def _summary_select() -> Select[*tuple[Any, ...]]:
    q: Select[*tuple[Any, ...]] = select(
        Deal.id, Deal.title, Deal.status, Deal.value, Deal.created_by_id,
        (User.first_name + " " + User.last_name), Deal.phi.is_not(None),
        Deal.created_at, Deal.updated_at, Deal.deleted_at, Deal.owner_id,
        func.coalesce(_Owner.first_name + " " + _Owner.last_name, Deal.owner_id),
        Deal.expected_close_date, Deal.probability,
    ).join(User, User.id == Deal.created_by_id).outerjoin(_Owner, _Owner.id == Deal.owner_id)
    return q




def _summary(row: Any) -> DealSummary:
    return DealSummary(*row)


def summary_of(s: Session, deal: Deal) -> DealSummary:
    """The summary of one deal, as lists show it."""
    row = s.execute(_summary_select().where(Deal.id == deal.id)).one()
    return _summary(row)


# The owner and close-date conditions with a unary plus: no index serves them, so SQLite
# walks the sort's index and tests each row (`owner_plan`'s "walk").
_PLUS_OWNER: Any = literal_column("+deals.owner_id")
_PLUS_CLOSE: Any = literal_column("+ifnull(deals.expected_close_date, '')")


def _filtered(q: Select[*tuple[Any, ...]], tenant_id: str, query: DealQuery, *,
              searched: bool = True, walk: bool = False,
              owner_walk: bool = False) -> Select[*tuple[Any, ...]]:
    """The list's conditions; the search's only with `searched` (the index plan); the
    owner's and close date's kept off their indexes with `walk`, only the close date's
    with `owner_walk` (the owner's own index is walked)."""
    q = q.where(Deal.tenant_id == tenant_id)
    q = q.where(Deal.deleted_at.is_not(None) if query.deleted else Deal.deleted_at.is_(None))
    if query.status is not None:
        q = q.where(Deal.status == validation.status(query.status))
    if query.owner_id is not None:
        q = q.where((_PLUS_OWNER if walk else Deal.owner_id) == query.owner_id)
    close = _PLUS_CLOSE if walk or owner_walk else CLOSE_KEY
    if query.close_from is not None:
        q = q.where(close >= query.close_from.isoformat())
    if query.close_to is not None:
        q = q.where(close > "", close <= query.close_to.isoformat())
    if query.overdue:
        q = q.where(Deal.status.in_(probability.OPEN), close > "",
                    close < local_today().isoformat())
    if searched and search.fts_query(query.search):
        q = q.where(search.in_matches(query.search))
    return q


def filtered(q: Select[*tuple[Any, ...]], tenant_id: str,
             query: DealQuery) -> Select[*tuple[Any, ...]]:
    """`q` (a select from deals) kept to the deals the list of `query` holds."""
    _check_query(query)
    return _filtered(q, tenant_id, query)


def _check_query(query: DealQuery) -> None:
    if query.sort not in SORT_COLUMNS:
        raise ValidationError(f"Sort must be one of {', '.join(SORT_COLUMNS)}.")
    if not isinstance(query.search, str) or len(query.search) > 200:
        raise ValidationError("Search must be text of at most 200 characters.")
    if query.owner_id is not None and not is_id(query.owner_id):
        raise ValidationError("Owner filter must be a user's id.")
    for name in ("close_from", "close_to"):
        day = getattr(query, name)
        if day is not None and (not isinstance(day, date) or isinstance(day, datetime)):
            raise ValidationError("Close date filters must be dates (YYYY-MM-DD).")
    if (query.close_from is not None and query.close_to is not None
            and query.close_from > query.close_to):
        raise ValidationError("The close date range ends before it starts; swap the dates.")


def check_query(query: DealQuery) -> None:
    """Refuse (ValidationError) a query the lists would refuse: saved views check theirs."""
    _check_query(query)


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
                after: tuple[Any, str] | None = None) -> Select[*tuple[Any, ...]]:
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
        cursors.put(session.tenant_id, query, offset + len(page), sort_value(last, query.sort),
                    last.id)
    return page


_ROWID: ColumnElement[int] = literal_column("deals.rowid")
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
    column = sort_column(query.sort) if on is None else on[0]
    ident = Deal.id if on is None else on[1]
    return [column.desc(), ident.desc()] if query.descending else [column.asc(), ident.asc()]


def _after(q: Select[*tuple[Any, ...]], query: DealQuery,
           after: tuple[Any, str] | None) -> Select[*tuple[Any, ...]]:
    if after is None:
        return q
    column = sort_column(query.sort)
    if query.sort == "expected_close_date" and not isinstance(after[0], str):
        after = ("" if after[0] is None else after[0].isoformat(), after[1])
    key = tuple_(column, Deal.id)
    # Typed binds: the key is compared in its stored form (ISO text, cents).
    bound = tuple_(literal(after[0], column.type), literal(after[1], Deal.id.type))
    return q.where(key < bound if query.descending else key > bound)


def _page(s: Session, tenant_id: str, query: DealQuery, offset: int, limit: int,
          after: tuple[Any, str] | None) -> list[DealSummary]:
    """One page of a list, by the plan that stays cheap for it (core/search.py)."""
    if search.fts_query(query.search) and not offset:
        plan = search_plan(s, query)
        if plan == "walk":
            walked = _walk(s, tenant_id, query, after, _summary_select(), limit)
            if len(walked) == limit:
                return [_summary(r) for r in walked]
            plan = search_plan(s, query, walked=True)
        if plan == "sort":
            # Few matches: read them through FTS5 and sort them; the unary plus keeps
            # SQLite from walking the sort index instead.
            q = _after(_filtered(_summary_select(), tenant_id, query), query, after)
            direction = "DESC" if query.descending else "ASC"
            q = q.order_by(text(f"{sort_sql(query.sort)} {direction}, +deals.id {direction}"))
            return [_summary(r) for r in s.execute(q.limit(limit))]
    if query.narrowed and not search.fts_query(query.search) and not _served(query):
        return _owner_page(s, tenant_id, query, offset, limit, after)
    q = page_select(tenant_id, query, offset=offset, limit=limit, after=after)
    return [_summary(r) for r in s.execute(q)]


def _served(query: DealQuery) -> bool:
    """Whether an owner or close-date index gives this narrowed list in its order: one
    owner newest first or by owner; any close-date list by close date (its index holds
    the owner and status too)."""
    by_close = (query.close_from is not None or query.close_to is not None
                or query.overdue)
    return query.sort == "expected_close_date" or (
        not by_close and query.sort in ("updated_at", "owner"))


def owner_plan(s: Session, tenant_id: str, query: DealQuery, limit: int) -> str:
    """How to page one owner's (or a close-date range's) deals in an order their index
    has not: "sort" the few (read through their index), or "walk" the sort's own index
    and keep theirs. Sorting costs about their count; a walk about limit x deals / their
    count, so the walk wins when their count squared passes limit x deals (counted only
    that far)."""
    rows = int(s.connection().exec_driver_sql("SELECT max(rowid) FROM deals").scalar() or 0)
    enough = math.isqrt(max(1, limit) * rows) + 1
    mine = s.scalar(select(func.count()).select_from(
        _filtered(select(Deal.id), tenant_id, query).limit(enough).subquery()))
    return "walk" if (mine or 0) >= enough else "sort"


def _owner_page(s: Session, tenant_id: str, query: DealQuery, offset: int, limit: int,
                after: tuple[Any, str] | None) -> list[DealSummary]:
    direction = "DESC" if query.descending else "ASC"
    if query.owner_id is not None and query.sort == "updated_at":
        # One owner's close range newest first: walk the owner's own index (newest first,
        # deals_live_owner_idx) and keep the range. Sorting the range read every match's
        # row (10,000 at a million deals); walking every deal's index passed the other
        # owners' too.
        q = _after(_filtered(_summary_select(), tenant_id, query, owner_walk=True), query,
                   after).order_by(*_order(query))
    elif owner_plan(s, tenant_id, query, limit) == "sort":
        # The unary plus keeps SQLite from walking the sort index for the few.
        q = _after(_filtered(_summary_select(), tenant_id, query), query, after)
        q = q.order_by(text(f"{sort_sql(query.sort)} {direction}, +deals.id {direction}"))
    else:
        # The plus on the owner and close date keeps SQLite from their indexes: it walks
        # the sort's.
        q = _after(_filtered(_summary_select(), tenant_id, query, walk=True), query, after)
        q = q.order_by(*_order(query))
    return [_summary(r) for r in s.execute(q.offset(0 if after else offset).limit(limit))]


def search_plan(s: Session, query: DealQuery, *, walked: bool = False) -> str:
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
          columns: Select[*tuple[Any, ...]], want: int) -> list[Any]:
    """Up to `want` matching rows (of `columns`, a select from deals) among the first
    WALK_ROWS rows of the list after `after`, in order. Only for a search whose words
    `search.simple_words` accepts (the plans choose a walk only then)."""
    condition = search.walk_condition(query.search)
    assert condition is not None
    column = sort_column(query.sort)
    window = _after(_filtered(select(_ROWID.label("rid"), column.label("k"),
                                     Deal.id.label("i")), tenant_id, query, searched=False),
                    query, after).order_by(*_order(query)).limit(WALK_ROWS).subquery("walk")
    q = (columns.join(window, _ROWID == window.c.rid).where(condition)
         .order_by(*_order(query, (window.c.k, window.c.i))).limit(want))
    return list(s.execute(q))


def _count_streamed(s: Session, tenant_id: str, query: DealQuery, at_most: int) -> int:
    """Matches of a search counted up to `at_most` + 1, reading FTS5's matches in order
    and each one's deal (nothing is built for every match)."""
    if query.narrowed:
        q = _filtered(select(Deal.id), tenant_id, query).limit(at_most + 1)
        return int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
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
        if not search.fts_query(query.search) and query.narrowed:
            # Whole close months from the counters, part months from their rows.
            return sum(n for n, _ in _grouped(s, session.tenant_id, query).values())
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


def _grouped(s: Session, tenant_id: str, query: DealQuery) -> dict[DealStatus, tuple[int, Decimal]]:
    """Count and exact total per status of a narrowed list: the whole close months of its
    range from the per-owner, per-month counters the triggers keep (0009_owner), the part
    months at its ends (overdue: this month up to yesterday) summed from their deals."""
    part = close_months.split(query.close_from, query.close_to, query.overdue, local_today())
    found: dict[DealStatus, tuple[int, Decimal]] = {}
    if part.months is not None:
        counted = _from_counters(s, tenant_id, query, part.months)
        if counted is None:  # a total past 64 bits: every deal summed exactly
            return _summed(s, tenant_id, query)
        found = counted
    for lo, hi in part.rest:
        for st, (n, total) in _summed(s, tenant_id, replace(query, close_from=lo,
                                                           close_to=hi)).items():
            had = found.get(st, (0, Decimal("0.00")))
            found[st] = (had[0] + n, had[1] + total)
    return {st: got for st, got in found.items() if got[0]}


def counter_conditions(tenant_id: str, query: DealQuery, months: tuple[str | None, str | None],
                       statuses: list[DealStatus] | None) -> list[Any]:
    """The `deal_forecast_stats` rows of `query`'s owner and deleted flag in `statuses`
    (None: any) closing in the whole `months` ('YYYY-MM' first and last, either None for
    open-ended; both None: any month, or no close date)."""
    conditions = [DealForecastStat.tenant_id == tenant_id,
                  DealForecastStat.deleted == int(query.deleted)]
    if query.owner_id is not None:
        conditions.append(DealForecastStat.owner_id == query.owner_id)
    if statuses is not None:
        conditions.append(DealForecastStat.status.in_([st.value for st in statuses]))
    if months[0] is not None:
        conditions.append(DealForecastStat.month >= months[0])
    if months[1] is not None:  # '' (no close date) sorts before every month
        conditions.extend([DealForecastStat.month > "", DealForecastStat.month <= months[1]])
    return conditions


def _from_counters(s: Session, tenant_id: str, query: DealQuery,
                   months: tuple[str | None, str | None]
                   ) -> dict[DealStatus, tuple[int, Decimal]] | None:
    """Count and total per status of `query`'s deals (owner, status, overdue: open ones)
    closing in the whole `months`, from `deal_forecast_stats`; None past 64 bits."""
    statuses = None if query.status is None else [validation.status(query.status)]
    if query.overdue:
        statuses = [st for st in probability.OPEN if statuses is None or st in statuses]
    found: dict[DealStatus, tuple[int, int]] = {}
    for st, n, summed in s.execute(select(
            DealForecastStat.status, DealForecastStat.count, DealForecastStat.total)
            .where(*counter_conditions(tenant_id, query, months, statuses))):
        if not isinstance(summed, int):
            return None
        had = found.get(DealStatus(st), (0, 0))
        found[DealStatus(st)] = (had[0] + n, had[1] + summed)
    return {st: (n, cents_to_decimal(c)) for st, (n, c) in found.items()}


def _summed(s: Session, tenant_id: str, query: DealQuery) -> dict[DealStatus, tuple[int, Decimal]]:
    """Count and exact total per status of `query`'s deals, summed in SQL through the
    index that covers it (owner, close date); in Python past 64 bits."""
    cents: Any = literal_column("deals.value")
    # Grouped by "+status": SQLite keeps to the filter's index rather than walking the
    # status index to avoid a sort of four groups.
    q = _filtered(select(Deal.status, func.count(), func.sum(cents)), tenant_id, query)
    try:
        return {DealStatus(st): (n, cents_to_decimal(total))
                for st, n, total in s.execute(q.group_by(literal_column("+deals.status")))}
    except OperationalError as exc:
        if "overflow" not in str(exc).lower():
            raise
    out: dict[DealStatus, tuple[int, Decimal]] = {}
    for st, amount in s.execute(_filtered(select(Deal.status, Deal.value), tenant_id, query)):
        n, tot = out.get(DealStatus(st), (0, Decimal("0.00")))
        out[DealStatus(st)] = (n + 1, tot + amount)
    return out


def pipeline(session: AuthSession, query: DealQuery | None = None) -> list[PipelineRow]:
    """Count and exact total value per status of the tenant's live deals, or with `query`
    of the deals that list holds (its status filter, search and deleted flag).

    Unsearched, read from the counters that triggers keep (0003). A total that overflowed
    SQLite's 64-bit integers reads back as a float; that status is then summed exactly
    here. A search sums its matches, so callers ask only when the match count is known to
    be modest (the window: an exact count).
    """
    query = query or DealQuery()
    _check_query(query)
    found: dict[DealStatus, tuple[int, Decimal]] = {}
    with run(session, write=False) as s:
        actor(s, session)
        if query.narrowed and not search.fts_query(query.search):
            found = _grouped(s, session.tenant_id, query)
        elif search.fts_query(query.search):
            q = _filtered(select(Deal.status, Deal.value), session.tenant_id, query)
            for st, amount in s.execute(q):
                n, tot = found.get(DealStatus(st), (0, Decimal("0.00")))
                found[DealStatus(st)] = (n + 1, tot + amount)
        else:
            where = _filtered(select(Deal.value), session.tenant_id, query)
            inexact = []
            for st, n, total in stats(s, session.tenant_id, query.deleted):
                if isinstance(total, int):
                    found[DealStatus(st)] = (n, cents_to_decimal(total))
                else:
                    inexact.append(st)
            for st in inexact:
                tot = Decimal("0.00")
                n = 0
                for (amount,) in s.execute(where.where(Deal.status == st)):
                    n += 1
                    tot += amount
                found[DealStatus(st)] = (n, tot)
    zero = (0, Decimal("0.00"))
    wanted = None if query.status is None else validation.status(query.status)
    return [PipelineRow(st, *(found.get(st, zero) if wanted in (None, st) else zero))
            for st in DealStatus]
