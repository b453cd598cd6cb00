"""The admin views: the whole tenant's users, devices, open conflicts, rejections,
access logs and security events, for admins only, a page at a time (paging.py).

Every query names the caller's tenant besides row-level security (one shard answers on
Citus), and none ever selects a password hash. Filters are checked before use: a bad
one is a 400 saying which.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import sql

from ...core.domain import validation
from ...core.domain.clock import as_utc
from ...core.domain.enums import AccessAction
from ...core.domain.errors import ValidationError
from ...core.domain.ids import is_id
from ..caller import Caller
from ..db.pool import Connection
from ..devices import registry
from ..errors import bad_request
from .paging import fetch_page, plain

USER_COLUMNS = ("id", "email", "first_name", "last_name", "role", "created_at",
                "updated_at", "deactivated_at", "last_login_at")
CONFLICT_COLUMNS = ("id", "table_name", "row_id", "field", "base_version", "server_version",
                    "kept_value", "losing_value", "device_id", "mutation_id", "created_at")
REJECTION_COLUMNS = ("id", "device_id", "mutation_id", "table_name", "row_id", "op", "code",
                     "message", "fields", "created_at", "acknowledged_at")
ACCESS_COLUMNS = ("id", "user_id", "deal_id", "action", "access_type", "resource_type",
                  "success", "timestamp", "device_id", "seq", "chain_hash", "reason",
                  "server_seq")
# seq: a device's chain (rows it uploaded); server_seq: the server's (migration 0005).
EVENT_COLUMNS = ("id", "user_id", "type", "detail", "timestamp", "device_id", "seq",
                 "chain_hash", "server_seq")
ACTIONS = tuple(a.value for a in AccessAction)
# Rows of reveals_by_day at most (user-days): a year of a 25-user team's every day.
MAX_REVEAL_DAYS = 10_000


class Filters:
    """The WHERE terms of a view: the tenant first, then each filter given."""

    def __init__(self, caller: Caller) -> None:
        caller.require_admin()
        self.terms: list[sql.Composable] = [sql.SQL("tenant_id = %s")]
        self.params: list[Any] = [caller.tenant_id]

    def id_equals(self, column: str, value: str | None) -> Filters:
        """Rows whose `column` is the id `value`."""
        if value is not None:
            if not is_id(value):
                raise bad_request("invalid_filter", f"{column} must be an id.", field=column)
            self.terms.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            self.params.append(value)
        return self

    def text_equals(self, column: str, value: str | None, max_len: int = 100) -> Filters:
        """Rows whose `column` is exactly `value` (printable text, at most max_len)."""
        if value is not None:
            try:
                ok = validation.text(value, column, max_len=max_len) == value
            except ValidationError:
                ok = False
            if not ok:
                raise bad_request("invalid_filter", f"{column} must be 1 to {max_len} "
                                  "printable characters.", field=column)
            self.terms.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            self.params.append(value)
        return self

    def time_range(self, column: str, since: datetime | None,
                   until: datetime | None) -> Filters:
        """Rows with since <= column < until (either end open)."""
        if since is not None and until is not None and as_utc(since) > as_utc(until):
            raise bad_request("invalid_filter", "since must not be after until.")
        for bound, op in ((since, ">="), (until, "<")):
            if bound is not None:
                self.terms.append(sql.SQL("{} {} %s").format(sql.Identifier(column),
                                                             sql.SQL(op)))
                self.params.append(as_utc(bound))
        return self

    def flag_equals(self, column: str, value: bool | None) -> Filters:
        """Rows whose boolean `column` is `value`."""
        if value is not None:
            self.terms.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            self.params.append(bool(value))
        return self

    def enum_equals(self, column: str, value: str | None, allowed: Iterable[str]) -> Filters:
        """Rows whose enum `column` is `value`, one of `allowed` (compared as text)."""
        if value is not None:
            if value not in set(allowed):
                raise bad_request("invalid_filter", f"{column} must be one of "
                                  f"{', '.join(sorted(allowed))}.", field=column)
            self.terms.append(sql.SQL("{}::text = %s").format(sql.Identifier(column)))
            self.params.append(value)
        return self

    def where(self, clause: str) -> Filters:
        """A fixed condition (a constant of this module, never input)."""
        self.terms.append(sql.SQL(clause))  # constants of this module only
        return self


def users(conn: Connection, caller: Caller, *, cursor: str | None = None,
          limit: int | None = None) -> dict[str, Any]:
    """The tenant's users (never their password hashes)."""
    f = Filters(caller)
    return fetch_page(conn, table="users", columns=USER_COLUMNS, sort="created_at",
                      where=f.terms, params=f.params, cursor=cursor, limit=limit,
                      to_dict=plain(USER_COLUMNS))


def devices(conn: Connection, caller: Caller, *, user_id: str | None = None,
            status: str | None = None, cursor: str | None = None,
            limit: int | None = None) -> dict[str, Any]:
    """Every device of the tenant."""
    caller.require_admin()
    return registry.list_devices(conn, caller, user_id=user_id, status=status,
                                 cursor=cursor, limit=limit)


def open_conflicts(conn: Connection, caller: Caller, *, device_id: str | None = None,
                   cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Conflicts not yet resolved, oldest first."""
    f = Filters(caller).id_equals("device_id", device_id).where("resolved_at IS NULL")
    return fetch_page(conn, table="conflicts", columns=CONFLICT_COLUMNS, sort="created_at",
                      where=f.terms, params=f.params, cursor=cursor, limit=limit,
                      to_dict=plain(CONFLICT_COLUMNS))


def rejections(conn: Connection, caller: Caller, *, device_id: str | None = None,
               unacknowledged: bool = False, cursor: str | None = None,
               limit: int | None = None) -> dict[str, Any]:
    """Pushed mutations the server refused, oldest first."""
    f = Filters(caller).id_equals("device_id", device_id)
    if unacknowledged:
        f.where("acknowledged_at IS NULL")
    return fetch_page(conn, table="rejections", columns=REJECTION_COLUMNS, sort="created_at",
                      where=f.terms, params=f.params, cursor=cursor, limit=limit,
                      to_dict=plain(REJECTION_COLUMNS))


def access_logs(conn: Connection, caller: Caller, *, user_id: str | None = None,
                device_id: str | None = None, deal_id: str | None = None,
                action: str | None = None, success: bool | None = None,
                since: datetime | None = None, until: datetime | None = None,
                cursor: str | None = None, limit: int | None = None,
                newest_first: bool = False) -> dict[str, Any]:
    """The tenant's access log, every device's rows and the server's, oldest first (or
    newest first, as the desktop's Audit pane lists it)."""
    f = (Filters(caller).id_equals("user_id", user_id).id_equals("device_id", device_id)
         .text_equals("deal_id", deal_id).enum_equals("action", action, ACTIONS)
         .flag_equals("success", success).time_range("timestamp", since, until))
    return fetch_page(conn, table="access_logs", columns=ACCESS_COLUMNS, sort="timestamp",
                      where=f.terms, params=f.params, cursor=cursor, limit=limit,
                      to_dict=plain(ACCESS_COLUMNS), descending=newest_first)


def security_events(conn: Connection, caller: Caller, *, user_id: str | None = None,
                    device_id: str | None = None, type_: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    cursor: str | None = None, limit: int | None = None,
                    newest_first: bool = False) -> dict[str, Any]:
    """The tenant's security events, every device's and the server's, oldest first (or
    newest first)."""
    f = (Filters(caller).id_equals("user_id", user_id).id_equals("device_id", device_id)
         .text_equals("type", type_, 40).time_range("timestamp", since, until))
    return fetch_page(conn, table="security_events", columns=EVENT_COLUMNS, sort="timestamp",
                      where=f.terms, params=f.params, cursor=cursor, limit=limit,
                      to_dict=plain(EVENT_COLUMNS), descending=newest_first)


def reveals_by_day(conn: Connection, caller: Caller, *, since: datetime | None = None,
                   until: datetime | None = None) -> dict[str, Any]:
    """The tenant's PHI reveals (PHI_ACCESS/READ rows of every device and the server)
    per user and UTC day, newest day first: successful, refused, and with a break-glass
    reason. Counts only: the desktop applies its rule for unusual days. At most
    MAX_REVEAL_DAYS rows; `more` says that older ones were left out (narrow `since`)."""
    f = Filters(caller).time_range("timestamp", since, until)
    query = sql.SQL(
        "SELECT user_id, to_char((\"timestamp\" AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') "
        "AS day, count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success), "
        "count(reason) FROM access_logs WHERE {where} AND action = 'PHI_ACCESS' "
        "AND access_type = 'READ' GROUP BY user_id, day ORDER BY day DESC, user_id "
        "LIMIT %s").format(where=sql.SQL(" AND ").join(f.terms))
    rows = conn.execute(query, [*f.params, MAX_REVEAL_DAYS + 1]).fetchall()
    items = [{"user_id": u, "day": d, "reveals": int(r), "refused": int(x),
              "break_glass": int(b)} for u, d, r, x, b in rows[:MAX_REVEAL_DAYS]]
    return {"items": items, "more": len(rows) > MAX_REVEAL_DAYS}
