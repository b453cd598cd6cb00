"""The owner, close-date and probability options of `deals add | edit | list` (issue
15), shared by cli/deals.py and cli/deal_owner.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..core.domain import validation
from ..core.domain.errors import ValidationError
from ..core.usecases import users
from ..core.usecases.frame import AuthSession
from .context import UsageError
from .registry import arg

# What `deals add` and `deals edit` take besides their own options.
FIELD_ARGS = [
    arg("--owner", metavar="EMAIL", help="the owner: an active user's email (default: you)"),
    arg("--close-date", metavar="YYYY-MM-DD", help="expected close date ('' clears it)"),
    arg("--probability", metavar="0-100", help="win probability in percent ('' for the "
        "status default)")]


def owner_id(s: AuthSession, email: str | None) -> str | None:
    """The id of the user `email` names (None when no email is given)."""
    return None if email is None else users.find_user_id(s, email)


def day(text: str | None, name: str) -> date | None:
    """A YYYY-MM-DD option, checked (None when not given)."""
    if text is None:
        return None
    try:
        return validation.close_date(text)
    except ValidationError as exc:
        raise UsageError(f"{name}: {exc}") from None


def field_changes(s: AuthSession, a: Any) -> dict[str, Any]:
    """The owner, close date and probability options that were given, for a use case."""
    out: dict[str, Any] = {}
    if a.owner is not None:
        out["owner_id"] = owner_id(s, a.owner)
    if a.close_date is not None:
        out["expected_close_date"] = a.close_date
    if a.probability is not None:
        out["probability"] = a.probability
    return out


def list_filters(s: AuthSession, a: Any) -> dict[str, Any]:
    """DealQuery's owner and close-date fields from `deals list`'s options."""
    if a.mine and a.owner:
        raise UsageError("give --mine or --owner, not both")
    out: dict[str, Any] = {"overdue": a.overdue,
                           "close_from": day(a.closing_from, "--closing-from"),
                           "close_to": day(a.closing_to, "--closing-to")}
    if a.mine:
        out["owner_id"] = s.user_id
    elif a.owner:
        out["owner_id"] = owner_id(s, a.owner)
    return out


LIST_ARGS = [
    arg("--mine", action="store_true", help="only the deals you own"),
    arg("--owner", metavar="EMAIL", help="only the deals this user owns"),
    arg("--closing-from", metavar="YYYY-MM-DD", help="expected to close on or after"),
    arg("--closing-to", metavar="YYYY-MM-DD", help="expected to close on or before"),
    arg("--overdue", action="store_true", help="open deals whose close date has passed")]
