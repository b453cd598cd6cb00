"""Time: always UTC and timezone-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 with microseconds and a Z suffix: the one text form of a time."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_today() -> date:
    """Today in the user's local time zone (what "overdue" and "this month" mean to a
    rep: a deal due today is not overdue yet, wherever UTC is)."""
    return datetime.now().astimezone().date()
