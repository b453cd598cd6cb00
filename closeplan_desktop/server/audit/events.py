"""Security events the server writes itself (admin actions, enrolment, revocation).

A server-written row has no device chain: `device_id` and `seq` are NULL (the uploaded
rows of a device carry those); the device an event is about is named in its JSON detail.
The kinds below are the server's own; a device uploads only core.domain's
SecurityEventType kinds.
"""

from __future__ import annotations

import json
from typing import Any

from ...core.domain.ids import new_id
from ..caller import Caller
from ..db.pool import Connection

DEVICE_ENROLLED = "DEVICE_ENROLLED"
DEVICE_APPROVED = "DEVICE_APPROVED"
DEVICE_APPROVAL_FAILED = "DEVICE_APPROVAL_FAILED"
DEVICE_ENROLMENT_LOCKED = "DEVICE_ENROLMENT_LOCKED"
DEVICE_REVOKED = "DEVICE_REVOKED"
KEY_GRANTED = "KEY_GRANTED"
KEY_ROTATED = "KEY_ROTATED"
SERVER_EVENTS = frozenset({DEVICE_ENROLLED, DEVICE_APPROVED, DEVICE_APPROVAL_FAILED,
                           DEVICE_ENROLMENT_LOCKED, DEVICE_REVOKED, KEY_GRANTED,
                           KEY_ROTATED})


def record(conn: Connection, caller: Caller, type_: str, detail: dict[str, Any],
           *, at: Any = None) -> str:
    """Write one server event by `caller` in the current transaction; returns its id.
    `at` (a datetime) fixes its timestamp, else the database clock's. The detail never
    holds keys, codes or tokens."""
    assert type_ in SERVER_EVENTS
    event_id = new_id()
    conn.execute(
        'INSERT INTO security_events (tenant_id, id, user_id, type, detail, "timestamp") '
        "VALUES (%s, %s, %s, %s, %s, coalesce(%s, clock_timestamp()))",
        (caller.tenant_id, event_id, caller.user_id, type_,
         json.dumps(detail, sort_keys=True, separators=(",", ":")), at))
    return event_id
