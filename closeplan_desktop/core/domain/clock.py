"""Time: always UTC and timezone-aware; the user's calendar day in their local zone.

The clock can be set (`set_clock`) so that tests can ask what "today" is at a given
instant in a given zone; nothing else sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo

# None: the system clock and the machine's local zone.
_now: Callable[[], datetime] | None = None
_zone: tzinfo | None = None


def utcnow() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC) if _now is None else as_utc(_now())


def local_today() -> date:
    """The user's calendar day now, in their local zone (not UTC's: at 01:00 UTC it is
    still yesterday in New York). Tasks are due by this day; "overdue" and "this month"
    mean it too (a deal closing today is not overdue yet, wherever UTC is)."""
    now = utcnow()
    return (now.astimezone(_zone) if _zone is not None else now.astimezone()).date()


def set_clock(now: Callable[[], datetime] | None = None, zone: tzinfo | None = None) -> None:
    """Use `now` for the current time and `zone` as the local zone (None: the system's).
    For tests; `set_clock()` puts the system clock back."""
    global _now, _zone
    _now, _zone = now, zone


def as_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 with microseconds and a Z suffix: the one text form of a time."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
