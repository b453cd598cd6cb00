"""The cell shapes other CRMs export, read into ClosePlan's values: amounts, close dates
and probabilities. Each reader raises a ValidationError whose text names the field and
the value's expected shape (the check adds the line numbers).

Rules taken (docs/window.md, "Import from other CRMs"):
- Amounts: "12,500.00", "$12,500" and "12500" (money.parse: no other currency sign,
  never negative, at most two places). An empty amount is 0.00, reported as a note.
- Dates: ISO ("2026-03-31"), ISO with a time ("2026-03-31 00:00", "2026-03-31T00:00:00Z",
  the time dropped: a close date is a day) and slashed dates. A column's slashed dates
  are month first (03/31/2026, as HubSpot's US exports) unless one of them can only be
  day first (31/03/2026); a column with both shapes is refused.
- Probability: "40%" is 40 %; a plain number is a percent (0..100, Pipedrive's 40)
  unless every plain number of the column lies within 0..1 (HubSpot's 0.4), then each is
  a fraction. The result is a whole percent 0..100 (rounded half up).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ...domain import money
from ...domain.errors import ValidationError

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                  r"(?:Z|[+-]\d{2}:?\d{2})?)?$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?"
                      r"(?: ?[AaPp][Mm])?)?$")
DATE_SHAPES = "2026-03-31, 2026-03-31 00:00 or 03/31/2026"
MONTH_FIRST, DAY_FIRST = "month first", "day first"


def amount(text: str, field: str = "Amount") -> tuple[Decimal, bool]:
    """An amount and whether the cell was empty (then 0.00)."""
    if not text.strip():
        return Decimal("0.00"), True
    try:
        return money.parse(text, field), False
    except ValidationError as exc:
        shown = text.strip()[:30]
        raise ValidationError(f"{exc} ('{shown}' is not an amount such as 12,500.00)"
                              ) from None


def slash_order(values: Iterable[str]) -> str:
    """How a column writes its slashed dates: month first unless one date can only be
    day first; both seen is a ValidationError."""
    day_first = month_first = False
    for text in values:
        m = _SLASHED.match(text.strip())
        if m:
            first, second = int(m.group(1)), int(m.group(2))
            day_first |= first > 12
            month_first |= second > 12
    if day_first and month_first:
        raise ValidationError("The close date column writes some dates month first "
                              "(03/31/2026) and others day first (31/03/2026); export them "
                              "in one shape, ideally 2026-03-31.")
    return DAY_FIRST if day_first else MONTH_FIRST


def close_date(text: str, order: str = MONTH_FIRST) -> date | None:
    """A close date (None for an empty cell)."""
    value = text.strip()
    if not value:
        return None
    iso = _ISO.match(value)
    slashed = _SLASHED.match(value) if iso is None else None
    try:
        if iso is not None:
            day = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        elif slashed is not None:
            a, b, year = (int(g) for g in slashed.groups())
            month, dom = (b, a) if order == DAY_FIRST else (a, b)
            day = date(year, month, dom)
        else:
            raise ValueError
    except ValueError:
        raise ValidationError(f"Close date '{value[:30]}' is not a date such as "
                              f"{DATE_SHAPES}.") from None
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise ValidationError(f"Close date '{value[:30]}' is not between 2000 and 2999.")
    return day


def _number(text: str) -> Decimal:
    try:
        number = Decimal(text.strip().rstrip("%").strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"Probability '{text.strip()[:30]}' is not a number such as "
                              "40%, 40 or 0.4.") from None
    if not number.is_finite():
        raise ValidationError("Probability must be a finite number.")
    return number


def fractions(values: Iterable[str]) -> bool:
    """Whether a probability column holds fractions: every plain number (not "40%") in
    it lies within 0..1."""
    plain = []
    for text in values:
        value = text.strip()
        if value and not value.endswith("%"):
            try:
                plain.append(_number(value))
            except ValidationError:
                continue  # reported by `probability`, row by row
    return bool(plain) and all(0 <= n <= 1 for n in plain)


def probability(text: str, as_fraction: bool) -> int | None:
    """A whole percent 0..100 (None for an empty cell), by the rule above."""
    value = text.strip()
    if not value:
        return None
    number = _number(value)
    if not value.endswith("%") and as_fraction:
        number *= 100
    if not 0 <= number <= 100:
        raise ValidationError(f"Probability '{value[:30]}' is not within 0..100 %.")
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))
