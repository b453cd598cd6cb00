"""The pipeline's forecast (issue 15): the weighted forecast (value x effective
probability, summed over open deals) and what closes this month and this quarter
(count, total, weighted), for the tenant or for the deals a list holds.

The tenant's weighted forecast reads `deal_stats` (weighted totals kept by triggers,
0009_owner); a list without a search reads `deal_forecast_stats` (the same per owner
and close month) for the whole months of its close range and sums the deals of its part
months (overdue: this month up to yesterday) through the close-date index; a search sums
its matches. Nothing reads the table. Sums are exact: cents x percent in integers,
divided once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..domain import probability, validation
from ..domain.clock import local_today
from ..domain.enums import DealStatus
from ..store import search
from ..store.models import Deal, DealForecastStat, DealStat, cents_to_decimal
from . import close_months, deal_list
from .close_months import month_range, quarter_range
from .deal_list import DealQuery
from .frame import AuthSession, actor, run

ZERO = Decimal("0.00")
# value (cents) x percent / WEIGHT_SCALE = money
WEIGHT_SCALE = 10000
_WEIGHT: Any = literal_column(probability.effective_sql("deals.status", "deals.probability"))


@dataclass(frozen=True)
class Figures:
    """Open deals of a window: how many, their value and their weighted value."""

    count: int
    total: Decimal
    weighted: Decimal


@dataclass(frozen=True)
class Forecast:
    """The forecast of the tenant or of a list: every open deal, and those expected to
    close this month and this quarter (`month` and `quarter` are their first days)."""

    open: Figures
    this_month: Figures
    this_quarter: Figures
    month: date
    quarter: date


def weighted_money(cents_percent: int) -> Decimal:
    """Cents x percent as an exact amount (four places: a weighted value is not
    rounded until shown)."""
    return Decimal(cents_percent).scaleb(-4)


def _open_only(query: DealQuery) -> DealQuery | None:
    """The query kept to open deals; None when it holds no open deal."""
    if query.status is not None and validation.status(query.status) not in probability.OPEN:
        return None
    return query


def _sum(s: Session, q: Select[*tuple[Any, ...]]) -> Figures:
    """count, total and weighted of the deals `q` (a select of value and weight) holds,
    exactly: SQLite's integer sum stops at 64 bits, so then Python sums them."""
    inner = q.subquery()
    try:
        n, total, weighted = s.execute(select(
            func.count(), func.coalesce(func.sum(inner.c.v), 0),
            func.coalesce(func.sum(inner.c.v * inner.c.w), 0))).one()
        if isinstance(total, int) and isinstance(weighted, int):
            return Figures(int(n), cents_to_decimal(total), weighted_money(weighted))
    except OperationalError as exc:
        if "overflow" not in str(exc).lower():
            raise
    n = total = weighted = 0
    for cents, pct in s.execute(select(inner.c.v, inner.c.w)):
        n += 1
        total += cents
        weighted += cents * pct
    return Figures(n, cents_to_decimal(total), weighted_money(weighted))


def _figures(s: Session, tenant_id: str, query: DealQuery | None) -> Figures:
    if query is None:
        return Figures(0, ZERO, ZERO)
    q = deal_list.filtered(select(literal_column("deals.value").label("v"),
                                  _WEIGHT.label("w")).select_from(Deal), tenant_id, query)
    if query.status is None:
        q = q.where(Deal.status.in_(probability.OPEN))
    return _sum(s, q)


def _from_stats(s: Session, tenant_id: str, query: DealQuery) -> Figures | None:
    """The tenant's open deals from `deal_stats` (None when a sum overflowed)."""
    statuses = [validation.status(query.status)] if query.status is not None else \
        list(probability.OPEN)
    n, total, weighted = 0, 0, 0
    for count, cents, w in s.execute(select(DealStat.count, DealStat.total, DealStat.weighted)
                                     .where(DealStat.tenant_id == tenant_id,
                                            DealStat.deleted == int(query.deleted),
                                            DealStat.status.in_([st.value for st in statuses]))):
        if not (isinstance(cents, int) and isinstance(w, int)):
            return None
        n, total, weighted = n + count, total + cents, weighted + w
    return Figures(n, cents_to_decimal(total), weighted_money(weighted))


def _from_months(s: Session, tenant_id: str, query: DealQuery,
                 months: tuple[str | None, str | None]) -> Figures | None:
    """Open deals of `query` (owner, status) closing in the whole months `months`
    ('YYYY-MM' first and last, either None for open-ended; both None: any month or none),
    from `deal_forecast_stats`; None when a sum overflowed (then the deals are summed)."""
    statuses = [validation.status(query.status)] if query.status is not None else \
        list(probability.OPEN)
    q = select(DealForecastStat.count, DealForecastStat.total, DealForecastStat.weighted).where(
        *deal_list.counter_conditions(tenant_id, query, months, statuses))
    n, total, weighted = 0, 0, 0
    for count, cents, w in s.execute(q):
        if not (isinstance(cents, int) and isinstance(w, int)):
            return None
        n, total, weighted = n + count, total + cents, weighted + w
    return Figures(n, cents_to_decimal(total), weighted_money(weighted))


def _plus(a: Figures, b: Figures) -> Figures:
    return Figures(a.count + b.count, a.total + b.total, a.weighted + b.weighted)


def _ranged(s: Session, tenant_id: str, query: DealQuery | None, today: date) -> Figures:
    """Open deals of an unsearched list: the whole close months of its range (overdue:
    up to yesterday) from `deal_forecast_stats`, the part months at its ends from their
    deals through the close-date index."""
    if query is None:
        return Figures(0, ZERO, ZERO)
    part = close_months.split(query.close_from, query.close_to, query.overdue, today)
    found = Figures(0, ZERO, ZERO)
    if part.months is not None:
        counted = _from_months(s, tenant_id, query, part.months)
        if counted is None:  # past 64 bits: every deal summed exactly
            return _figures(s, tenant_id, query)
        found = counted
    for lo, hi in part.rest:
        found = _plus(found, _figures(s, tenant_id, replace(query, close_from=lo, close_to=hi)))
    return found


def _list_figures(s: Session, tenant_id: str, query: DealQuery | None, today: date) -> Figures:
    if query is not None and search.fts_query(query.search):
        return _figures(s, tenant_id, query)
    return _ranged(s, tenant_id, query, today)


def _window(query: DealQuery, start: date, end: date) -> DealQuery | None:
    """The query narrowed to close dates in [start, end] (None: an empty range)."""
    lo = max(start, query.close_from) if query.close_from else start
    hi = min(end, query.close_to) if query.close_to else end
    return None if lo > hi else replace(query, close_from=lo, close_to=hi, sort="updated_at")


def forecast(session: AuthSession, query: DealQuery | None = None,
             today: date | None = None) -> Forecast:
    """The weighted forecast and closing this month / quarter of the tenant's open deals
    (DRAFT and ACTIVE), or of those the list of `query` holds (its owner, status,
    search and close-date filters). `today` defaults to the user's local day."""
    query = query or DealQuery()
    day = today or local_today()
    month, quarter = month_range(day), quarter_range(day)
    with run(session, write=False) as s:
        actor(s, session)
        wanted = _open_only(query)
        everything = None
        if wanted is not None and not query.narrowed and not search.fts_query(query.search):
            everything = _from_stats(s, session.tenant_id, query)
        if everything is None:
            everything = _list_figures(s, session.tenant_id, wanted, day)
        in_month = _list_figures(s, session.tenant_id, wanted and _window(wanted, *month), day)
        in_quarter = _list_figures(s, session.tenant_id, wanted and _window(wanted, *quarter),
                                   day)
    return Forecast(everything, in_month, in_quarter, month[0], quarter[0])


def status_default(status: DealStatus | str) -> int:
    """The probability a deal of `status` has when none is set (for forms)."""
    return probability.DEFAULTS[validation.status(status)]
