"""The admin views (admins only): users, devices, open conflicts, rejections, access
logs and security events of the whole tenant, a page at a time (`limit`, and the
`next_cursor` of the previous page as `cursor`). Pages are bounded, so each answer is
built directly as JSON, without a response model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ....core.domain.ids import CUID_RE
from ...audit import views
from ...audit.paging import MAX_LIMIT
from ..deps import AdminCallerDep, DatabaseDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Id = Annotated[str | None, Query(pattern=CUID_RE.pattern)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int | None, Query(ge=1, le=MAX_LIMIT)]
Order = Literal["asc", "desc"]
Action = Literal["PHI_ACCESS", "DEAL_CREATE", "DEAL_UPDATE", "DEAL_DELETE"] | None


@router.get("/users")
def users(who: AdminCallerDep, db: DatabaseDep, cursor: Cursor = None,
          limit: Limit = None) -> JSONResponse:
    """The tenant's users (never a password hash)."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.users(conn, who, cursor=cursor, limit=limit))


@router.get("/devices")
def devices(who: AdminCallerDep, db: DatabaseDep, user_id: Id = None,
            status: Literal["PENDING", "ACTIVE", "REVOKED"] | None = None,
            cursor: Cursor = None, limit: Limit = None) -> JSONResponse:
    """Every device of the tenant."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.devices(conn, who, user_id=user_id, status=status,
                                          cursor=cursor, limit=limit))


@router.get("/conflicts")
def conflicts(who: AdminCallerDep, db: DatabaseDep, device_id: Id = None,
              cursor: Cursor = None, limit: Limit = None) -> JSONResponse:
    """Conflicts not yet resolved, oldest first."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.open_conflicts(conn, who, device_id=device_id,
                                                 cursor=cursor, limit=limit))


@router.get("/rejections")
def rejections(who: AdminCallerDep, db: DatabaseDep, device_id: Id = None,
               unacknowledged: bool = False, cursor: Cursor = None,
               limit: Limit = None) -> JSONResponse:
    """Pushed changes the server refused, oldest first."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.rejections(conn, who, device_id=device_id,
                                             unacknowledged=unacknowledged, cursor=cursor,
                                             limit=limit))


@router.get("/access-logs")
def access_logs(who: AdminCallerDep, db: DatabaseDep, user_id: Id = None,
                device_id: Id = None,
                deal_id: Annotated[str | None, Query(max_length=100)] = None,
                action: Action = None, success: bool | None = None,
                since: datetime | None = None, until: datetime | None = None,
                cursor: Cursor = None, limit: Limit = None, order: Order = "asc"
                ) -> JSONResponse:
    """The tenant's access log (every device's rows and the server's), oldest first
    (`order=desc`: newest first); filters by user, device, deal, action, outcome and
    time (since <= timestamp < until)."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.access_logs(conn, who, user_id=user_id,
                                              device_id=device_id, deal_id=deal_id,
                                              action=action, success=success,
                                              since=since, until=until, cursor=cursor,
                                              limit=limit, newest_first=order == "desc"))


@router.get("/security-events")
def security_events(who: AdminCallerDep, db: DatabaseDep, user_id: Id = None,
                    device_id: Id = None,
                    type_: Annotated[str | None, Query(alias="type", max_length=40)] = None,
                    since: datetime | None = None, until: datetime | None = None,
                    cursor: Cursor = None, limit: Limit = None, order: Order = "asc"
                    ) -> JSONResponse:
    """The tenant's security events (every device's and the server's), oldest first
    (`order=desc`: newest first); filters by user, device, type and time."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.security_events(conn, who, user_id=user_id,
                                                  device_id=device_id, type_=type_,
                                                  since=since, until=until, cursor=cursor,
                                                  limit=limit,
                                                  newest_first=order == "desc"))


@router.get("/reveals-by-day")
def reveals_by_day(who: AdminCallerDep, db: DatabaseDep, since: datetime | None = None,
                   until: datetime | None = None) -> JSONResponse:
    """The tenant's PHI reveals per user and UTC day (every device's and the server's),
    newest day first: counts only, no deal and no PHI."""
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return JSONResponse(views.reveals_by_day(conn, who, since=since, until=until))
