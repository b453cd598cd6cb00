"""How commands write what they show: plain tables, clipped titles, money, times; and
how they read times the user types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..core.domain.errors import ValidationError


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns, each as wide as its widest cell, under a dashed rule."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def money(value: Any) -> str:
    return f"{value:,.2f}"


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or time given as --NAME, in UTC unless it names its zone."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--{name} must be an ISO 8601 date or time, such as "
                              "2026-01-31 or 2026-01-31T08:00Z.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
