"""One row as a device pulls it: `GET /v1/sync/deals/{id}`.

A device whose update of a deal the server rejected puts its local row back to the
server's at once, in the transaction that records the verdict, instead of waiting for a
pull that touches the deal. The row has the pull's shape (`sync.pull_shapes`), read
under the caller's tenant (row-level security); an ACTIVE device's session only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path

from ....core.domain.ids import CUID_RE
from ...errors import not_found
from ...sync.pull_shapes import BY_NAME, scope_params
from ..deps import DatabaseDep, DeviceCallerDep

router = APIRouter(prefix="/v1/sync", tags=["sync"])

DealId = Annotated[str, Path(pattern=CUID_RE.pattern)]
_DEALS = BY_NAME["deals"]


@router.get("/deals/{deal_id}", summary="One deal as the server holds it now")
def one_deal(deal_id: DealId, who: DeviceCallerDep, db: DatabaseDep) -> dict[str, Any]:
    """The deal's current row (deleted ones too), as a pull would send it."""
    scope = _DEALS.scope_sql(who)
    assert scope is not None  # deals are every device's
    with db.transaction(who.tenant_id, who.user_id) as conn:
        found = conn.execute(f"SELECT {_DEALS.line_sql()} FROM deals WHERE {scope} AND "  # noqa: S608
                             "id = %(id)s", {**scope_params(who), "id": deal_id}).fetchone()
    if found is None:
        raise not_found("unknown_deal", "No deal with that id in your organisation.")
    row: dict[str, Any] = json.loads(found[0])["row"]
    return row
