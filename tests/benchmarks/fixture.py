"""BENCH FIXTURE (tests/benchmarks only, never used by the app): access-log history.

The issue asks for five access-log rows per deal. The import writes the first one
(DEAL_CREATE) through the app's own path. Writing four million more through the use
cases (a reveal or an update per row, each its own transaction) would take hours, so this
fixture writes the other four per deal directly, in bulk: PHI reads (PHI_ACCESS/READ) of
deals with PHI and updates (DEAL_UPDATE/WRITE) of the others, by the tenant's users in
turn, with the very chain links core makes (`core.chain.next_links`, the bulk form of the
step `core.audit.access_row` takes per row), so that `audit verify` checks them all.
"""

from __future__ import annotations

from collections.abc import Sequence

from closeplan_desktop.core.domain.clock import iso, utcnow
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security.keyring_store import AUDIT_SLOT
from closeplan_desktop.core.store import chain, db
from closeplan_desktop.core.store.audit_log import RESOURCE_DEAL, RESOURCE_DEAL_PHI
from closeplan_desktop.core.store.workspace import Workspace

BATCH = 10000
_INSERT = ("INSERT INTO access_logs (id, user_id, deal_id, action, access_type, resource_type, "
           "success, timestamp, tenant_id, device_id, seq, chain_hash, reason, row_version) "
           "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, NULL, 0)")


def bench_fixture_access_history(ws: Workspace, tenant_id: str, user_ids: Sequence[str],
                                 per_deal: int = 4) -> int:
    """BENCH FIXTURE: append `per_deal` chained access-log rows for every deal of the
    tenant (see the module docstring). Returns the number of rows written."""
    key = ws.keyring.require(AUDIT_SLOT, "audit key")
    written = 0
    last_rowid = 0
    turn = 0
    while True:
        with db.write_session(ws.engine) as s:
            conn = s.connection()
            deals = conn.exec_driver_sql(
                "SELECT rowid, id, phi IS NOT NULL FROM deals WHERE tenant_id = ? AND "
                "rowid > ? ORDER BY rowid LIMIT ?", (tenant_id, last_rowid, BATCH)).all()
            if not deals:
                return written
            stamp = iso(utcnow())
            rows: list[dict[str, object]] = []
            for _rowid, deal_id, has_phi in deals:
                for _ in range(per_deal):
                    turn += 1
                    rows.append({
                        "id": new_id(), "user_id": user_ids[turn % len(user_ids)],
                        "deal_id": deal_id,
                        "action": "PHI_ACCESS" if has_phi else "DEAL_UPDATE",
                        "access_type": "READ" if has_phi else "WRITE",
                        "resource_type": RESOURCE_DEAL_PHI if has_phi else RESOURCE_DEAL,
                        "success": True, "timestamp": stamp, "tenant_id": tenant_id,
                        "device_id": ws.device_id, "reason": None})
            chain.next_links(s, key, "access_logs", ws.device_id, rows)
            conn.exec_driver_sql(_INSERT, [
                (r["id"], r["user_id"], r["deal_id"], r["action"], r["access_type"],
                 r["resource_type"], r["timestamp"], r["tenant_id"], r["device_id"], r["seq"],
                 r["chain_hash"]) for r in rows])
            written += len(rows)
            last_rowid = deals[-1][0]
