"""A deal's win probability (issue 15): stored 0..100 or NULL, and NULL means the status
default. The one rule both sides use: the desktop's triggers and queries and the
server's SQL function are built from `DEFAULTS`.
"""

from __future__ import annotations

from typing import Final

from .enums import DealStatus

# Percent per status when a deal has no probability of its own.
DEFAULTS: Final[dict[DealStatus, int]] = {
    DealStatus.DRAFT: 10,
    DealStatus.ACTIVE: 50,
    DealStatus.CLOSED_WON: 100,
    DealStatus.CLOSED_LOST: 0,
}
# Open deals: those a forecast counts and that can be overdue.
OPEN: Final = (DealStatus.DRAFT, DealStatus.ACTIVE)


def effective(status: DealStatus | str, probability: int | None) -> int:
    """The probability a forecast uses: the deal's own, else its status default."""
    if probability is not None:
        return probability
    return DEFAULTS[DealStatus(status)]


def default_sql(status_sql: str) -> str:
    """SQL giving the status default of `status_sql` (a status column or expression)."""
    whens = " ".join(f"WHEN '{st.value}' THEN {pct}" for st, pct in DEFAULTS.items())
    return f"(CASE {status_sql} {whens} ELSE 0 END)"


def effective_sql(status_sql: str, probability_sql: str) -> str:
    """SQL of `effective` over columns (`coalesce` of the stored value and the default)."""
    return f"coalesce({probability_sql}, {default_sql(status_sql)})"
