"""The board (issue 15): a list's deals by status, one column per status in pipeline
order, each with its count and total value in its header; a card moves to another
column by changing the deal's status.

Each column is the list's query with that status (`column_query`) and pages through
`deal_list.list_deals` like the list: nothing reads every row. The headers read the
per-status counters that triggers keep (0003) when the list is not searched; a search
counts each column's matches up to a bound, and sums only the columns counted exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from ..domain import validation
from ..domain.enums import DealStatus
from ..store import search
from . import deal_list, deals
from .deal_list import DealQuery, DealSummary
from .frame import AuthSession

# The columns, in pipeline order (the seed's four statuses).
STATUSES: Final = (DealStatus.DRAFT, DealStatus.ACTIVE, DealStatus.CLOSED_WON,
                   DealStatus.CLOSED_LOST)
# A searched column counts its matches up to this many, then says "more than".
SEARCH_COUNT_AT_MOST: Final = 1000


@dataclass(frozen=True)
class ColumnHeader:
    """What a column's header says. `count` is exact when `exact`; otherwise the column
    holds more than `count` deals and `total` is None (a broad search is not summed).
    `shown` is False for a column the list's status filter leaves out (it is empty)."""

    status: DealStatus
    count: int
    total: Decimal | None
    exact: bool = True
    shown: bool = True


def column_query(query: DealQuery, status: DealStatus) -> DealQuery | None:
    """The list query of `status`'s column, or None when the list's status filter leaves
    that column out."""
    status = validation.status(status)
    if query.status is not None and validation.status(query.status) != status:
        return None
    return replace(query, status=status)


def headers(session: AuthSession, query: DealQuery | None = None, *,
            at_most: int = SEARCH_COUNT_AT_MOST) -> list[ColumnHeader]:
    """The four columns' headers for a list query (its status filter, search and deleted
    flag), in pipeline order.

    Unsearched: the trigger-kept counters, one read. Searched: each shown column counts
    its matches up to `at_most`; a column within the bound is summed exactly (at most
    `at_most` rows), a broader one answers `count = at_most`, `exact = False`, no total.
    """
    query = query or DealQuery()
    wanted = [(st, column_query(query, st)) for st in STATUSES]
    if not search.fts_query(query.search):
        rows = {r.status: r for r in deal_list.pipeline(session, query)}
        return [ColumnHeader(st, rows[st].count, rows[st].total, shown=q is not None)
                for st, q in wanted]
    out = []
    for st, q in wanted:
        if q is None:
            out.append(ColumnHeader(st, 0, Decimal("0.00"), shown=False))
            continue
        n = deal_list.count_deals(session, q, at_most=at_most)
        if n > at_most:
            out.append(ColumnHeader(st, at_most, None, exact=False))
            continue
        row = next(r for r in deal_list.pipeline(session, q) if r.status == st)
        out.append(ColumnHeader(st, n, row.total))
    return out


def column_page(session: AuthSession, query: DealQuery, status: DealStatus, *,
                offset: int = 0, limit: int = 50) -> list[DealSummary]:
    """One page of a column (the list's sort; keyset paging as the list's), or nothing
    for a column the status filter leaves out."""
    q = column_query(query, status)
    if q is None:
        return []
    return deal_list.list_deals(session, q, offset=offset, limit=limit)


def move_deal(session: AuthSession, deal_id: str, status: DealStatus | str) -> DealSummary:
    """Move a deal to another column: change its status, an update like any other
    (`deals.update_deal`: the owner or an admin; one DEAL_UPDATE access-log row and one
    history row). Moving back from a closed status is allowed. A card dropped on its own
    column changes nothing and writes nothing."""
    clean = validation.status(status)
    current = deals.get_deal(session, deal_id)
    if current.status == clean:
        return current
    return deals.update_deal(session, deal_id, status=clean)
