"""An admin's check of the server's own audit chain (migration 0005) for their tenant."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import AdminCallerDep, DatabaseDep

router = APIRouter(prefix="/v1/admin/audit", tags=["admin"])
TABLES = ("access_logs", "security_events")


class ChainState(BaseModel):
    rows: int
    intact: bool
    first_bad: int | None


class ChainReport(BaseModel):
    intact: bool
    access_logs: ChainState
    security_events: ChainState


@router.get("/server-chain", response_model=ChainReport)
def server_chain(who: AdminCallerDep, db: DatabaseDep) -> dict[str, object]:
    """Recompute the chain of the rows the server wrote for this tenant (decrypt_phi's
    reads, sign-ins, admin actions) and compare it with its head."""
    report: dict[str, object] = {}
    with db.transaction(who.tenant_id, who.user_id) as conn:
        for table in TABLES:
            row = conn.execute("SELECT rows, intact, first_bad FROM verify_server_chain(%s)",
                               (table,)).fetchone()
            assert row is not None
            report[table] = {"rows": row[0], "intact": row[1], "first_bad": row[2]}
    report["intact"] = all(report[t]["intact"] for t in TABLES)  # type: ignore[index]
    return report
