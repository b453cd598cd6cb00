"""How money and times are written on screen. Money text comes from `core.domain.money`
(the one module that parses and writes amounts); only the short form, for where the full
amount does not fit, is the window's own: Babel's compact currency formatting in the
user's locale ("$1.2M", "$100T"; "1,2 Mio. $" in German), never a cut number."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from babel import Locale, UnknownLocaleError, default_locale, numbers

from ...core.domain import money
from ...core.domain.errors import ClosePlanError

CURRENCY = "USD"  # the amounts `money.display` writes with "$"


def amount(value: Decimal) -> str:
    """An amount for people: "$12,500.50"."""
    return money.display(value)


def amount_field(value: Decimal) -> str:
    """An amount as an edit field shows it: "12500.50" (what `money.parse` reads back)."""
    return money.to_text(value)


@cache
def user_locale() -> Locale:
    """The user's locale for numbers (LC_ALL, LC_NUMERIC, LANG); US English when unset
    or "C" (whose POSIX variant writes no thousands separators)."""
    name = default_locale("LC_NUMERIC") or "en_US"
    try:
        found = Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_US")
    return Locale.parse("en_US") if found.variant == "POSIX" else found


def short_amount(value: Decimal, locale: Locale | str | None = None) -> str:
    """An amount abbreviated in the user's locale: "$1.2M", "$940.5K", "$100T", "$87".

    Where the locale has no abbreviation for the size ("940500 $" in German) the whole
    amount is written grouped instead ("940.500 $"): short, and never a cut number."""
    loc = Locale.parse(locale) if locale is not None else user_locale()
    compact = numbers.format_compact_currency(value, CURRENCY, locale=loc, fraction_digits=1)
    whole = str(abs(int(value)))
    if len(re.sub(r"\D", "", compact)) < len(whole):
        return compact
    pattern = loc.currency_formats["standard"].pattern
    return numbers.format_currency(Decimal(value).quantize(Decimal(1)), CURRENCY, locale=loc,
                                   format=re.sub(r"[.,]0+", "", pattern), currency_digits=False)


def check_locale_data() -> str:
    """For the installation self-test: Babel's locale data is there (a frozen app must
    bundle it) and writes short amounts; ClosePlanError naming what is missing if not."""
    try:
        sample = short_amount(Decimal("1234567"), "en_US")
        mine = short_amount(Decimal("1234567"))  # the user's locale
    except Exception as exc:  # a missing data file raises OSError, a bad one others
        raise ClosePlanError(f"Babel's locale data (babel/locale-data) is missing or "
                             f"unreadable ({exc.__class__.__name__}); short amounts cannot "
                             "be written.") from None
    if sample != "$1.2M":
        raise ClosePlanError(f"Babel wrote 1,234,567 dollars as {sample!r}, not '$1.2M'.")
    return f"wrote short amounts with Babel's locale data ({user_locale()}: {mine})"


def local_minute(ts: datetime | None, never: str = "") -> str:
    """Local time to the minute: "2026-01-31 09:30" (`never` when there is none)."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M") if ts else never


def local_day(ts: datetime | None) -> str:
    """Local date: "2026-01-31" (a list's column; its tooltip gives the minute)."""
    return ts.astimezone().strftime("%Y-%m-%d") if ts else ""


def local_second(ts: datetime) -> str:
    """Local time to the second: "2026-01-31 09:30:12"."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def local_second_zone(ts: datetime) -> str:
    """Local time to the second with the zone: "2026-01-31 09:30:12 CET"."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def utc_second(ts: datetime) -> str:
    """UTC to the second: "2026-01-31 08:30:12 UTC"."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(ts: datetime | None, now: datetime, never: str = "never") -> str:
    """How long ago, as a glance reads it: "just now", "4 min ago", "3 h ago", then the
    local minute (the zone belongs in a tooltip: `local_second_zone`)."""
    if ts is None:
        return never
    seconds = (now - ts).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return local_minute(ts)
