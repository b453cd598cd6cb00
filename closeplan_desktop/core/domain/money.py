"""Money: the one parser of amounts a user types, and the one way each is written out.

Amounts are exact Decimals with two places (the seed's Decimal); stored as integer cents,
synced and exported as text with exactly two places, shown with thousands separators.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ValidationError

# Whole currency units: cents are stored as a 64-bit integer and totals must stay exact.
MAX_VALUE = Decimal("99999999999999.99")
CENT = Decimal("0.01")


def parse(value: Any, field: str = "Value") -> Decimal:
    """A non-negative amount with at most two decimal places, exact.

    Floats are refused: they cannot carry cents exactly.
    """
    if isinstance(value, bool) or isinstance(value, float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise ValidationError(f"{field} must be a finite number.")
        raise ValidationError(f"{field} must be given as text or a whole number, such as 1250.00.")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        cleaned = value.strip().replace(",", "").replace("_", "")
        if cleaned.startswith("$"):
            cleaned = cleaned[1:]
        if not cleaned or len(cleaned) > 40:
            raise ValidationError(f"{field} must be an amount such as 1250.00.")
        try:
            amount = Decimal(cleaned)
        except InvalidOperation:
            raise ValidationError(f"{field} must be an amount such as 1250.00.") from None
    else:
        raise ValidationError(f"{field} must be an amount such as 1250.00.")
    if not amount.is_finite():
        raise ValidationError(f"{field} must be a finite number.")
    if amount < 0:
        raise ValidationError(f"{field} cannot be negative.")
    if amount > MAX_VALUE:
        raise ValidationError(f"{field} is too large: at most {MAX_VALUE:,}.")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValidationError(f"{field} has more than two decimal places.")
    return amount.quantize(Decimal("0.01"))


def to_text(value: Decimal) -> str:
    """The canonical text of an amount, two places always ("7" and "7.0" give "7.00"):
    what the outbox and exports carry, so that every writer agrees."""
    return str(Decimal(value).quantize(CENT))


def display(value: Decimal, *, symbol: str = "$") -> str:
    """An amount for people: thousands separators, two places, never cut."""
    return f"{symbol}{Decimal(value).quantize(CENT):,}"
