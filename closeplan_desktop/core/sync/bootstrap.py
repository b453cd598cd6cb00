"""The first load of a connected workspace: the server's current state streamed as NDJSON
(`/v1/sync/bootstrap`), first screen first, resumable.

The stream's rows are applied in blocks, each in one local transaction with the resume
cursor the server sent after it, so a bootstrap cut off (a network break, the laptop
killed) starts again from its last cursor and never from zero. The first screen (the
tenant, its users, PHI keys, this device's grants and the newest page of deals) is
committed as soon as it is complete, and `on_first_screen` lets the caller show the
window while the rest arrives. Rows loaded write no outbox and no audit rows.

After the first screen, the deals' secondary indexes, search and counter triggers are
set aside (`store.bulk`) and built once at the end, in the transaction of the last
rows: SYNC.md measured half the time for a million deals. The first screen keeps its
search and counters; the rest is searchable once the load is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..domain.errors import SyncError
from ..domain.progress import CancelToken, Progress, no_progress
from ..store import bulk, db, key_vault
from ..store.models import SyncConnection
from ..store.workspace import Workspace
from . import apply
from .engine import keep_grant, with_retries
from .transport import Transport

# Rows committed at most in one local transaction (the server's resume cursors come every
# 20,000 deals; history and activities, after the deals, come without one).
PAGE = 20_000


def _flush(ws: Workspace, conn: SyncConnection, rows: list[dict[str, Any]],
           cursor: str | None, done: dict[str, Any] | None) -> int:
    with db.write_session(ws.engine) as s:
        applied = apply.apply_changes(s.connection(), conn.tenant_id, rows,
                                      keep_grant(s, conn.tenant_id), conn.device_id,
                                      conn.user_id)
        key_vault.open_device_grants(s, ws)
        row = s.get(SyncConnection, 1)
        assert row is not None
        if done is not None:
            bulk.restore(s.connection())
            row.pull_cursor = done["cursor"]
            row.checkpoint = int(done.get("checkpoint") or 0)
            row.bootstrap_cursor = None
            row.bootstrapped = True
        elif cursor is not None:
            row.bootstrap_cursor = cursor
    conn.pull_cursor, conn.bootstrap_cursor = row.pull_cursor, row.bootstrap_cursor
    conn.checkpoint, conn.bootstrapped = row.checkpoint, row.bootstrapped
    return applied.rows


def bootstrap(ws: Workspace, transport: Transport, conn: SyncConnection, *,
              progress: Progress = no_progress, cancel: CancelToken | None = None,
              on_first_screen: Callable[[], None] | None = None) -> int:
    """Load the server's state into the workspace (from the last resume cursor, if an
    earlier run stopped); returns the rows applied."""
    if conn.bootstrapped:
        return 0
    total = 0

    def stream() -> int:
        nonlocal total
        params = {"cursor": conn.bootstrap_cursor} if conn.bootstrap_cursor else {}
        rows: list[dict[str, Any]] = []
        for line in transport.lines("/v1/sync/bootstrap", params):
            if "table" in line:
                # Rows wait for the server's next resume cursor (every 20,000 deals) and
                # are committed with it, so a resume starts right after them. The deals'
                # history and activities come after the last cursor: they are committed
                # in pages (a resume sends them again; they are written idempotently).
                rows.append(line)
                if len(rows) >= PAGE:
                    total += _flush(ws, conn, rows, None, None)
                    rows = []
                    progress(total, None)
                continue
            if line.get("done"):
                total += _flush(ws, conn, rows, None, line)
                progress(total, total)
                return total
            if "cursor" in line:
                total += _flush(ws, conn, rows, str(line["cursor"]), None)
                rows = []
                progress(total, None)
                if line.get("first_screen"):
                    with db.write_session(ws.engine) as s:
                        bulk.suspend(s.connection())
                    if on_first_screen is not None:
                        on_first_screen()
                if cancel is not None:
                    cancel.check()
        raise SyncError("The server ended the first load early; sync again to resume it.")

    return with_retries(stream)
