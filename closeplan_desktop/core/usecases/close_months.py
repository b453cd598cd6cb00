"""A close-date range split into the whole months the per-owner, per-month counters
(`deal_forecast_stats`, 0009_owner) answer for and the part months at its ends, which
are counted from the deals themselves through the close-date index.

"Overdue" is the range that ends yesterday (the user's local day): at a million deals it
covers most of a year of close dates, so counting its rows took 400 ms; split, it reads
a few counters and at most a month of rows.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class MonthSplit:
    """`months` ('YYYY-MM' first and last, either None for open-ended; both None: every
    deal, with a close date or not) for the counters, or None when no whole month is in
    the range; `rest`: the part months, as (first, last) days (empty: none)."""

    months: tuple[str | None, str | None] | None
    rest: tuple[tuple[date | None, date | None], ...]


def month_range(today: date) -> tuple[date, date]:
    """The first and last day of `today`'s month."""
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


def quarter_range(today: date) -> tuple[date, date]:
    """The first and last day of `today`'s calendar quarter."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    start = date(today.year, first_month, 1)
    end_month = first_month + 2
    return start, date(today.year, end_month, calendar.monthrange(today.year, end_month)[1])


def _month_end(day: date) -> date:
    return month_range(day)[1]


def _next_month(day: date) -> date:
    return _month_end(day) + timedelta(days=1)


def split(lo: date | None, hi: date | None, overdue: bool, today: date) -> MonthSplit:
    """The whole months and part months of a list's close range: `lo` to `hi` (days
    included, None for open-ended), and with `overdue` only the days before `today`."""
    if overdue:
        yesterday = today - timedelta(days=1)
        hi = yesterday if hi is None else min(hi, yesterday)
    if lo is None and hi is None:
        return MonthSplit((None, None), ())
    if lo is not None and hi is not None and lo > hi:
        return MonthSplit(None, ())  # an empty range
    first = lo if lo is None or lo.day == 1 else _next_month(lo)
    last = hi if hi is None or hi == _month_end(hi) else hi.replace(day=1) - timedelta(days=1)
    if first is not None and last is not None and first > last:  # no whole month inside
        return MonthSplit(None, ((lo, hi),))
    rest: list[tuple[date | None, date | None]] = []
    if lo is not None and first is not None and lo != first:
        rest.append((lo, first - timedelta(days=1)))
    if hi is not None and last is not None and hi != last:
        rest.append((last + timedelta(days=1), hi))
    return MonthSplit((None if first is None else f"{first:%Y-%m}",
                       None if last is None else f"{last:%Y-%m}"), tuple(rest))
