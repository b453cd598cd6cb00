"""Audit upload: a device's chained log rows in signed batches; the answer is the
server's signed receipt (audit/upload.py says what is checked)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ....core.domain.audit_batch import MAX_ROWS
from ....core.domain.ids import CUID_RE
from ...audit import upload as audit_upload
from ..deps import DatabaseDep, DeviceCallerDep
from .keys import SigningKeyDep, decode

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class Batch(BaseModel):
    device_id: str = Field(pattern=CUID_RE.pattern)
    table: Literal["access_logs", "security_events"]
    first_seq: int = Field(ge=1, le=2**62)
    last_seq: int = Field(ge=1, le=2**62)
    last_chain_hash: str = Field(max_length=64)
    signature: str = Field(max_length=128, description="Ed25519 over batch_message, base64")
    # Rows are checked field by field by the service (bounded there, as sent: their
    # hash covers the exact values, so nothing here may coerce them).
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)


@router.post("/batches", status_code=201)
def upload(body: Batch, who: DeviceCallerDep, db: DatabaseDep,
           key: SigningKeyDep) -> dict[str, Any]:
    """Store the next batch of this device's chain; answers the signed receipt (the
    stored one again for an exact replay; 409 with expected_seq for a gap or overlap)."""
    batch = audit_upload.BatchIn(body.device_id, body.table, body.first_seq, body.last_seq,
                                 body.last_chain_hash, decode(body.signature, "signature"),
                                 body.rows)
    with db.transaction(who.tenant_id, who.user_id) as conn:
        return audit_upload.upload(conn, who, key, batch)
