"""Saved views (issue 15): a user's named deal-list filters, and the built-in ones.

A view is a name and a `DealQuery`. The query is stored as JSON made generically from
the dataclass's fields, so fields DealQuery gains later are saved without code here; on
the way back each field is checked against its type and the list's rules, and a field
that is unknown or no longer valid is dropped with a note (never an error: a view saved
by a newer version, or a filter that no longer applies, still opens).

Per user: a user sees and changes only their own views (another's answers as missing).
Built-in views are always there and cannot be changed or deleted. One view may be the
user's default, opened at sign-in; a built-in is made the default by a row that bears
its name and marks only that. Every change writes its outbox row (sync: last writer
wins per view; a delete is a tombstone). Views are not PHI: no access-log rows.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import validation
from ..domain.clock import local_today, utcnow
from ..domain.errors import NotFoundError, ValidationError
from ..domain.ids import new_id
from ..store.models import SavedView
from ..store.outbox import record_row
from . import close_months
from .deal_list import DealQuery, check_query
from .frame import AuthSession, actor, run

ALL_DEALS: Final = "All deals"
MY_DEALS: Final = "My deals"
DELETED: Final = "Deleted"
MAX_VIEWS = 100  # per user
MAX_NAME = 60
MAX_QUERY_BYTES = 1000  # the server takes text fields up to 1,000


@dataclass(frozen=True)
class View:
    """A view as the window and the CLI show it. `notes` say which saved fields were
    dropped on loading (unknown or no longer valid)."""

    name: str
    query: DealQuery
    builtin: bool = False
    is_default: bool = False
    id: str | None = None
    notes: tuple[str, ...] = ()


# -- the query as JSON ---------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# A close range that is this month or this quarter when saved is saved as that window,
# so the view opens on the month or quarter of the day it is opened (its dates are kept
# too: a version that does not know the key opens the saved dates).
CLOSE_WINDOW: Final = "close_window"
WINDOWS: Final = {"this_month": close_months.month_range,
                  "this_quarter": close_months.quarter_range}


def encode_query(query: DealQuery, today: date | None = None) -> str:
    """The JSON text of a query: every field of the dataclass, in a JSON-able form, and
    `close_window` when its close range is this month or quarter (of `today`)."""
    out = {f.name: _plain(getattr(query, f.name)) for f in dataclasses.fields(query)}
    day = today or local_today()
    for window, span in WINDOWS.items():
        if (query.close_from, query.close_to) == span(day):
            out[CLOSE_WINDOW] = window
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def _typed(kind: Any, raw: Any) -> Any:
    """`raw` (from JSON) as a value of the annotated type `kind`; ValueError if it is not one."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if raw is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _typed(option, raw)
            except (ValueError, TypeError):
                continue
        raise ValueError("no type fits")
    if kind is bool or kind is str:
        if type(raw) is not kind:
            raise ValueError("wrong type")
        return raw
    if kind is int:
        if type(raw) is not int:
            raise ValueError("wrong type")
        return raw
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw)
    if kind is datetime:
        return datetime.fromisoformat(str(raw))
    if kind is date:
        if not isinstance(raw, str):
            raise ValueError("wrong type")
        return date.fromisoformat(raw)
    raise ValueError("unsupported type")


def decode_query(text: str, today: date | None = None) -> tuple[DealQuery, tuple[str, ...]]:
    """The query saved as `text`, and a note per field dropped (unknown, of the wrong
    type, or refused by the list's rules); a saved `close_window` gives the close range
    of the month or quarter of `today`. Never raises for a bad saved value."""
    notes: list[str] = []
    try:
        raw = json.loads(text)
    except (TypeError, ValueError):
        raw = None
    if not isinstance(raw, dict):
        return DealQuery(), ("The saved filter could not be read; the view shows all deals.",)
    hints = typing.get_type_hints(DealQuery)
    known = {f.name for f in dataclasses.fields(DealQuery) if f.init}
    values: dict[str, Any] = {}
    window = raw.pop(CLOSE_WINDOW, None)
    if window in WINDOWS:
        first, last = WINDOWS[window](today or local_today())
        raw.update(close_from=first.isoformat(), close_to=last.isoformat())
    elif window is not None:
        notes.append("The saved close-date window is not one this version knows; the saved "
                     "dates are used.")
    for name in sorted(raw):
        if name not in known:
            notes.append(f"'{name}' is not a filter this version knows; it was left out.")
            continue
        try:
            value = _typed(hints[name], raw[name])
            check_query(DealQuery(**{name: value}))
        except (ValueError, TypeError, ValidationError):
            notes.append(f"The saved '{name}' is not valid any more; it was left out.")
            continue
        values[name] = value
    try:
        query = DealQuery(**values)
        check_query(query)
    except (ValueError, TypeError, ValidationError):
        return DealQuery(), ("The saved filter is not valid any more; the view shows all "
                             "deals.",)
    return query, tuple(notes)


# -- built-in views -----------------------------------------------------------------


def builtin_views(session: AuthSession) -> list[View]:
    """The views every user has, in the order the window lists them. "My deals" exists
    once DealQuery filters by owner."""
    out = [View(ALL_DEALS, DealQuery(), builtin=True)]
    if any(f.name == "owner_id" for f in dataclasses.fields(DealQuery)):
        mine = DealQuery(**{"owner_id": session.user_id})  # type: ignore[arg-type]
        out.append(View(MY_DEALS, mine, builtin=True))
    out.append(View(DELETED, DealQuery(deleted=True), builtin=True))
    return out


def _builtin(session: AuthSession, name: str) -> View | None:
    key = name.casefold()
    return next((v for v in builtin_views(session) if v.name.casefold() == key), None)


# -- reading ------------------------------------------------------------------------


def _rows(s: Session, session: AuthSession) -> list[SavedView]:
    return list(s.scalars(
        select(SavedView).where(SavedView.tenant_id == session.tenant_id,
                                SavedView.user_id == session.user_id,
                                SavedView.deleted_at.is_(None))
        .order_by(SavedView.name, SavedView.id)))


def _view(row: SavedView) -> View:
    query, notes = decode_query(row.query)
    return View(row.name, query, is_default=bool(row.is_default), id=row.id, notes=notes)


def _default_name(rows: list[SavedView]) -> str | None:
    marked = [r for r in rows if r.is_default]
    if not marked:
        return None
    # Two laptops may each have set a default offline: the later one wins.
    return max(marked, key=lambda r: (r.updated_at, r.id)).name


def list_views(session: AuthSession) -> list[View]:
    """The built-in views, then the user's own by name, the default one marked."""
    with run(session, write=False) as s:
        actor(s, session)
        rows = _rows(s, session)
    default = (_default_name(rows) or ALL_DEALS).casefold()
    out = [dataclasses.replace(v, is_default=v.name.casefold() == default)
           for v in builtin_views(session)]
    for row in rows:
        if _builtin(session, row.name) is None:
            out.append(dataclasses.replace(_view(row),
                                           is_default=row.name.casefold() == default))
    return out


def get_view(session: AuthSession, name: str) -> View:
    """One of the user's views (or a built-in) by name, case aside."""
    key = _clean_name(name).casefold()
    found = next((v for v in list_views(session) if v.name.casefold() == key), None)
    if found is None:
        raise NotFoundError(f"You have no view named '{_clean_name(name)}'. Views: "
                            + ", ".join(v.name for v in list_views(session)) + ".")
    return found


def default_view(session: AuthSession) -> View:
    """The view the user's deal list opens with (All deals unless they chose one)."""
    return next(v for v in list_views(session) if v.is_default)


# -- changes ------------------------------------------------------------------------


def _clean_name(name: Any) -> str:
    return validation.text(name, "View name", max_len=MAX_NAME)


def _query_text(query: DealQuery) -> str:
    if not isinstance(query, DealQuery):
        raise ValidationError("A view's filter must be a deal-list query.")
    check_query(query)
    text = encode_query(query)
    if len(text.encode()) > MAX_QUERY_BYTES:
        raise ValidationError(f"This filter is too large to save (at most {MAX_QUERY_BYTES} "
                              "bytes); shorten the search.")
    return text


def _own(s: Session, session: AuthSession, name: str) -> SavedView:
    """The user's own (not built-in) view called `name`."""
    if _builtin(session, name) is not None:
        raise ValidationError(f"'{name}' is a built-in view: it cannot be changed, renamed or "
                              "deleted. Use Save as… to keep this filter under a new name.")
    key = name.casefold()
    row = next((r for r in _rows(s, session) if r.name.casefold() == key), None)
    if row is None:
        raise NotFoundError(f"You have no view named '{name}'.")
    return row


def _check_free(s: Session, session: AuthSession, name: str, *, but: str | None = None
                ) -> None:
    if _builtin(session, name) is not None:
        raise ValidationError(f"'{name}' is the name of a built-in view; choose another name.")
    key = name.casefold()
    if any(r.name.casefold() == key and r.id != but for r in _rows(s, session)):
        raise ValidationError(f"You already have a view named '{name}'; choose another name "
                              "or save over that one.")


def save_view(session: AuthSession, name: str, query: DealQuery) -> View:
    """Save `query` as a new view of the user's, called `name` (unique per user)."""
    clean = _clean_name(name)
    text = _query_text(query)
    with run(session) as s:
        user = actor(s, session)
        _check_free(s, session, clean)
        if sum(1 for r in _rows(s, session) if _builtin(session, r.name) is None) >= MAX_VIEWS:
            raise ValidationError(f"You have {MAX_VIEWS} saved views, the most there can be; "
                                  "delete one you no longer use first.")
        now = utcnow()
        row = SavedView(id=new_id(), tenant_id=session.tenant_id, user_id=user.id, name=clean,
                        query=text, is_default=False, created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        record_row(s, row, "create")
        return _view(row)


def _save(s: Session, row: SavedView, fields: list[str]) -> View:
    if fields:
        row.updated_at = utcnow()
        record_row(s, row, "update", fields)
    return _view(row)


def update_view(session: AuthSession, name: str, query: DealQuery) -> View:
    """Save `query` over the user's view `name`."""
    clean = _clean_name(name)
    text = _query_text(query)
    with run(session) as s:
        actor(s, session)
        row = _own(s, session, clean)
        fields = ["query"] if row.query != text else []
        row.query = text
        return _save(s, row, fields)


def rename_view(session: AuthSession, name: str, new_name: str) -> View:
    """Rename the user's view `name` to `new_name` (unique per user)."""
    clean, new = _clean_name(name), _clean_name(new_name)
    with run(session) as s:
        actor(s, session)
        row = _own(s, session, clean)
        _check_free(s, session, new, but=row.id)
        fields = ["name"] if row.name != new else []
        row.name = new
        return _save(s, row, fields)


def delete_view(session: AuthSession, name: str) -> None:
    """Delete the user's view `name` (a tombstone, so sync carries it). If it was the
    default, All deals is the default again."""
    clean = _clean_name(name)
    with run(session) as s:
        actor(s, session)
        row = _own(s, session, clean)
        row.deleted_at = row.updated_at = utcnow()
        record_row(s, row, "delete")


def set_default(session: AuthSession, name: str) -> View:
    """Make the view `name` (the user's own or a built-in) the one opened at sign-in."""
    clean = _clean_name(name)
    with run(session) as s:
        user = actor(s, session)
        rows = _rows(s, session)
        builtin = _builtin(session, clean)
        key = clean.casefold()
        target = next((r for r in rows if r.name.casefold() == key), None)
        if target is None and builtin is None:
            raise NotFoundError(f"You have no view named '{clean}'.")
        if target is None and builtin is not None and builtin.name != ALL_DEALS:
            # A built-in's default mark: a row of its name (its filter is the built-in's).
            now = utcnow()
            target = SavedView(id=new_id(), tenant_id=session.tenant_id, user_id=user.id,
                               name=builtin.name, query=encode_query(DealQuery()),
                               is_default=True, created_at=now, updated_at=now)
            s.add(target)
            s.flush()
            record_row(s, target, "create")
        for row in rows:
            wanted = row is target
            if bool(row.is_default) != wanted:
                row.is_default = wanted
                _save(s, row, ["is_default"])
        if builtin is not None:
            return dataclasses.replace(builtin, is_default=True)
        assert target is not None
        return _view(target)
