"""How deal lists sort (issue 15 added the close date and the owner): the SQL of each
sort and a listed deal's key in it, for keyset paging."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, Text, func, literal_column

from ..store.models import Deal

# "owner" sorts by the owner's id, not name: the id is on the deal and in an index that
# ends in id (0009_owner), so a page is an index range; by name would join every deal to
# its user and sort a million rows. It still groups each owner's deals together.
SORT_COLUMNS: Final = ("updated_at", "created_at", "title", "value", "status",
                       "expected_close_date", "owner")
# A deal without a close date sorts as '' (first ascending, last descending), so that
# a page's key is never NULL; the close-date index is on this expression.
CLOSE_KEY: ColumnElement[str] = func.ifnull(Deal.expected_close_date, literal_column("''"),
                                            type_=Text())


def sort_column(sort: str) -> Any:
    """The SQL a list of `sort` is ordered by (then by id)."""
    if sort == "owner":
        return Deal.owner_id
    if sort == "expected_close_date":
        return CLOSE_KEY
    return getattr(Deal, sort)


def sort_value(deal: Any, sort: str) -> Any:
    """A listed deal's (a DealSummary's) key in a list of `sort`, as
    `list_deals(after=...)` takes it."""
    if sort == "owner":
        return deal.owner_id
    if sort == "expected_close_date":
        day = deal.expected_close_date
        return "" if day is None else day.isoformat()
    return getattr(deal, sort)


def sort_sql(sort: str) -> str:
    """`sort_column` as SQL text with a unary plus (no index serves it)."""
    if sort == "owner":
        return "+deals.owner_id"
    if sort == "expected_close_date":
        return "+ifnull(deals.expected_close_date, '')"
    return f"+deals.{sort}"
