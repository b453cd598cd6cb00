"""Is the server up, and can it reach its database."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import DatabaseDep

router = APIRouter(prefix="/v1", tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", response_model=Health)
def health(db: DatabaseDep) -> dict[str, str]:
    """200 when the database answers (a 503 with a clear body when it does not)."""
    with db.transaction(None) as conn:
        conn.execute("SELECT 1").fetchone()
    return {"status": "ok", "database": "ok"}
