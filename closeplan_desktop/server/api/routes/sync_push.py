"""POST /v1/sync/push: a device's queued mutations, a verdict for each (server.sync.push).

The device and tenant come from the session (an ACTIVE device's access token); the body
is a bounded `PushRequest`, so a malformed one is a 422 before anything is read.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...sync.mutations import PushRequest
from ...sync.push import run_push
from ..deps import DatabaseDep, DeviceCallerDep

router = APIRouter(prefix="/v1/sync", tags=["sync"])


class VerdictOut(BaseModel):
    mid: int
    verdict: Literal["applied", "merged", "conflict", "rejected", "duplicate"]
    code: str | None = None
    message: str | None = None
    row_version: int | None = None


class PushResponse(BaseModel):
    verdicts: list[VerdictOut]
    last_mutation_id: int
    sync_version: int


@router.post("/push", responses={200: {"model": PushResponse}})
def push(body: PushRequest, caller: DeviceCallerDep, db: DatabaseDep) -> JSONResponse:
    """Apply the device's mutations in one transaction: per mutation `applied`, `merged`,
    `conflict`, `rejected` (with code and message; it still advances the queue) or
    `duplicate` (a replay). A gap in the mutation ids is a 409 with `expected_mid`."""
    return JSONResponse(run_push(db, caller, body).as_json())
