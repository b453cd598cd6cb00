"""How money and times are written on screen. Money text comes from `core.domain.money`
(the one module that parses and writes amounts); only the pipeline's short form is the
window's own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ...core.domain import money


def amount(value: Decimal) -> str:
    """An amount for people: "$12,500.50"."""
    return money.display(value)


def amount_field(value: Decimal) -> str:
    """An amount as an edit field shows it: "12500.50" (what `money.parse` reads back)."""
    return money.to_text(value)


def short_amount(value: Decimal) -> str:
    """The pipeline's short form: "$1.2M", "$940.5K", "$87"."""
    v = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= size:
            return f"${v / size:,.1f}{unit}"
    return f"${v:,.0f}"


def local_minute(ts: datetime | None, never: str = "") -> str:
    """Local time to the minute: "2026-01-31 09:30" (`never` when there is none)."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M") if ts else never


def local_second(ts: datetime) -> str:
    """Local time to the second: "2026-01-31 09:30:12"."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def local_second_zone(ts: datetime) -> str:
    """Local time to the second with the zone: "2026-01-31 09:30:12 CET"."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def utc_second(ts: datetime) -> str:
    """UTC to the second: "2026-01-31 08:30:12 UTC"."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
