"""Security events the server writes itself (sign-ins, admin actions): rows of
`security_events` with no device and no seq, in the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from ..core.domain.ids import new_id
from .db.pool import Connection


def record_event(conn: Connection, event_type: str, user_id: str | None,
                 **detail: Any) -> str:
    """Append one event of the current tenant (in `conn`'s context); returns its id.
    `detail` holds ids and words only: never PHI, passwords, tokens or keys."""
    event_id = new_id()
    conn.execute("INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
                 "VALUES (current_tenant_id(), %s, %s, %s, %s)",
                 (event_id, user_id, event_type,
                  json.dumps(detail, sort_keys=True, separators=(",", ":"))))
    return event_id
