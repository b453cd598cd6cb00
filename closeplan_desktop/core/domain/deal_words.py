"""Deal fields in words for people (issue 15): statuses as words, money formatted, dates
as dates, probabilities as percents. History entries (`usecases.timeline`), the window
and the CLI all use these, so a change reads the same everywhere.
"""

from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from . import money
from .enums import DealStatus

STATUS_WORDS = {DealStatus.DRAFT: "Draft", DealStatus.ACTIVE: "Active",
                DealStatus.CLOSED_WON: "Closed – won", DealStatus.CLOSED_LOST: "Closed – lost"}
# How each deal field is named for people.
FIELD_LABELS = {"title": "Title", "status": "Status", "value": "Value", "owner_id": "Owner",
                "created_by_id": "Created by", "expected_close_date": "Expected close",
                "probability": "Probability", "phi": "PHI", "deleted_at": "Deleted"}
DEFAULT_PROBABILITY = "status default"
NO_DATE = "none"


def status_word(status: DealStatus | str) -> str:
    """A status as people read it ("Closed – won"); unknown text as it is."""
    try:
        return STATUS_WORDS[DealStatus(status)]
    except ValueError:
        return str(status)


@functools.lru_cache(maxsize=2048)  # a list renders the same few hundred days again
def day_text(day: date | str | None) -> str:
    """A calendar day as people read it, "31 Mar 2027" (None: "none")."""
    if day is None or day == "":
        return NO_DATE
    try:
        value = day if isinstance(day, date) else date.fromisoformat(str(day))
    except ValueError:
        return str(day)
    return f"{value.day} {value:%b %Y}"


def probability_text(value: int | None) -> str:
    """A stored probability: "40%", or "status default" when none is set."""
    return DEFAULT_PROBABILITY if value is None else f"{value}%"


def field_text(field: str, value: Any, names: dict[str, str] | None = None) -> str:
    """A field's value (as history stores it) for people; user ids by `names`."""
    if field in ("owner_id", "created_by_id"):
        return (names or {}).get(str(value), "(unknown user)") if value else "none"
    if field == "status":
        return status_word(str(value))
    if field == "value":
        try:
            return money.display(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return str(value)
    if field == "expected_close_date":
        return day_text(value)
    if field == "probability":
        return probability_text(value if isinstance(value, int) else None)
    return "" if value is None else str(value)
