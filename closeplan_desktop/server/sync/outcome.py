"""What a push answers and records: verdicts, refusals, and the rows a push writes beside
its changes (access logs, security events, conflicts, rejections).

Every write here goes through the caller's connection, inside the push's transaction and
under the tenant's row-level security; rows the server writes carry no device chain
(device_id and seq NULL), as 0001 has it for server-written audit rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from ...core.domain.enums import AccessAction
from ...core.domain.ids import is_id, new_id
from ..caller import Caller
from ..db.pool import Connection

APPLIED, MERGED, CONFLICT, REJECTED, DUPLICATE = (
    "applied", "merged", "conflict", "rejected", "duplicate")
# A password hash never leaves the users table: conflicts and rejections name it only.
HASH_WITHHELD = "(a bcrypt hash, withheld)"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one mutation, as the response carries it."""

    mid: int
    verdict: str
    code: str | None = None
    message: str | None = None
    row_version: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mid": self.mid, "verdict": self.verdict}
        for key in ("code", "message", "row_version"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class PushResult:
    """The response of a push: a verdict per mutation, where the device's queue now
    stands, and the tenant's sync version after it."""

    verdicts: list[Verdict]
    last_mutation_id: int
    sync_version: int

    def as_json(self) -> dict[str, Any]:
        return {"verdicts": [v.as_json() for v in self.verdicts],
                "last_mutation_id": self.last_mutation_id, "sync_version": self.sync_version}


class Rejected(Exception):
    """A mutation refused for good: `code` and a `message` for the user. `audit` writes
    the refusal's own audit row after the mutation's savepoint is rolled back."""

    def __init__(self, code: str, message: str,
                 audit: Callable[[Context], None] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.audit = audit


@dataclass
class Context:
    """One push: the connection in its transaction, who pushes from which device, the
    actor's role as the database has it now, and the transaction's sync version.
    Handlers raise `Rejected` before their first write (no savepoint is needed then)."""

    conn: Connection
    caller: Caller
    device_id: str
    is_admin: bool
    version: int
    # Each mutation in a savepoint of its own (see push.apply_one).
    savepoints: bool = True
    # Access-log rows held back for one statement at the end (push_bulk), in order.
    pending_logs: list[tuple[str, str, bool]] | None = None
    _key_states: dict[int, str | None] = field(default_factory=dict)
    _user_states: dict[str, str | None] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.caller.tenant_id

    @property
    def user_id(self) -> str:
        return self.caller.user_id

    def phi_key_state(self, version: int) -> str | None:
        """The state of the tenant's PHI key `version` (None: the tenant has no such key)."""
        if version not in self._key_states:
            row = self.conn.execute(
                "SELECT state::text FROM phi_keys WHERE tenant_id = %s AND version = %s",
                (self.tenant_id, version)).fetchone()
            self._key_states[version] = None if row is None else str(row[0])
        return self._key_states[version]

    def user_state(self, user_id: str) -> str | None:
        """"active" or "inactive" for a user of the tenant, None for no such user (the
        lookup `core.domain.validation.owner` takes)."""
        if user_id not in self._user_states:
            row = None
            if is_id(user_id):
                row = self.conn.execute(
                    "SELECT deactivated_at IS NULL FROM users WHERE tenant_id = %s AND id = %s",
                    (self.tenant_id, user_id)).fetchone()
            self._user_states[user_id] = None if row is None else (
                "active" if row[0] else "inactive")
        return self._user_states[user_id]

    def log_access(self, deal_id: str, action: AccessAction, success: bool = True) -> None:
        """The seed's access-log row of a deal write (WRITE), as the desktop writes it."""
        if self.pending_logs is not None:
            self.pending_logs.append((deal_id, action.value, success))
            return
        self.conn.execute(
            "INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, access_type, "
            "resource_type, success) VALUES (%s, %s, %s, %s, %s, 'WRITE', 'deal', %s)",
            (self.tenant_id, new_id(), self.user_id, deal_id, action.value, success))

    def flush_logs(self) -> None:
        """Write the held-back access-log rows in one statement, in the order they were
        logged (the server chain numbers them in that order), stamped with the
        transaction's version by the statement itself (0011)."""
        logs, self.pending_logs = self.pending_logs or [], None
        if logs:
            self.conn.execute(
                "INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, access_type,"
                " resource_type, success, row_version) SELECT %s, i, %s, d, a::access_action, "
                "'WRITE', 'deal', s, %s FROM unnest(%s::text[], %s::text[], %s::text[], "
                "%s::boolean[]) WITH ORDINALITY AS l(i, d, a, s, n) ORDER BY n",
                (self.tenant_id, self.user_id, self.version, [new_id() for _ in logs],
                 [d for d, _, _ in logs], [a for _, a, _ in logs], [s for _, _, s in logs]))

    def log_event(self, type_: str, detail: dict[str, Any]) -> None:
        """A security event by the pushing user (`detail`: ids and names, no secrets)."""
        self.conn.execute(
            "INSERT INTO security_events (tenant_id, id, user_id, type, detail) "
            "VALUES (%s, %s, %s, %s, %s)",
            (self.tenant_id, new_id(), self.user_id, type_,
             json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)))

    def record_conflict(self, table: str, row_id: str, field_name: str, mid: int,
                        base_version: int | None, server_version: int, kept: Any,
                        losing: Any) -> None:
        """A field both sides changed: the value kept on the row and the one that lost."""
        self.conn.execute(
            "INSERT INTO conflicts (tenant_id, id, table_name, row_id, field, base_version, "
            "server_version, kept_value, losing_value, device_id, mutation_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (self.tenant_id, new_id(), table, row_id, field_name, base_version,
             server_version, Jsonb(kept), Jsonb(losing), self.device_id, mid))

    def record_rejection(self, mid: int, table: str, row_id: str, op: str,
                         fields: dict[str, Any], code: str, message: str) -> None:
        """A refused mutation, kept for the user to see (it still advances the queue)."""
        shown = {k: HASH_WITHHELD if k == "password" else v for k, v in fields.items()}
        self.conn.execute(
            "INSERT INTO rejections (tenant_id, id, device_id, mutation_id, table_name, "
            "row_id, op, code, message, fields) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (self.tenant_id, new_id(), self.device_id, mid, table, row_id[:64], op, code,
             message, Jsonb(shown)))
