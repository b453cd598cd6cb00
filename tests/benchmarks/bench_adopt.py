"""Uploading a standalone workspace's deals (issue 12, "Connect"): the adoption import
(`server.adopt.import_deals`, 1000 deals a request, ids, owners and times kept) against
the normal push of the same deals as creates (500 a request, the push limit), both
through the services on one private PostgreSQL 15 cluster (fsync off, like the tests).

Run it with `.venv/bin/python tests/benchmarks/bench_adopt.py [--deals 20000]` (after
`bash tests/benchmarks/run_push.sh --help` or tests/run.sh installed the `server` extra).
Each path gets its own tenant; a third of the deals carry a PHI envelope sealed by the
desktop's code. Prints deals per second and the time 100,000 deals would take.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

import psycopg
from bench_push import bench_database, body, make_lane, new_device

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server import adopt
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync.mutations import parse_request
from closeplan_desktop.server.sync.push import run_push

STATUSES = ("DRAFT", "ACTIVE", "CLOSED_WON", "CLOSED_LOST")


def deals_of(tenant_id: str, user_id: str, key: bytes, count: int,
             rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        deal_id = new_id()
        phi = crypto.encrypt_phi(key, 1, tenant_id, deal_id, {"mrn": "4711"}) \
            if rng.random() < 1 / 3 else None
        out.append({"id": deal_id, "title": "Infusion pumps", "status": rng.choice(STATUSES),
                    "value": f"{rng.randint(0, 10**9) / 100:.2f}", "phi": phi,
                    "phi_key_version": 1 if phi else None, "created_by_id": user_id,
                    "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
                    "deleted_at": None})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--deals", type=int, default=20000)
    args = p.parse_args(argv)
    rng = random.Random(12)
    with bench_database("adopt") as dsn, Database(dsn, min_size=1, max_size=2) as db:
        with psycopg.connect(dsn, autocommit=True) as conn:
            lanes = [make_lane(conn, n) for n in range(2)]
            for lane in lanes:
                lane.device_id = new_device(conn, lane)
            with conn.transaction():
                conn.execute("SELECT set_tenant_context(%s)", (lanes[0].tenant_id,))
                conn.execute("UPDATE tenants SET adopting = true WHERE id = %s",
                             (lanes[0].tenant_id,))
        results = {}
        imp, push = lanes
        who = Caller(imp.tenant_id, imp.user_id, "ADMIN", new_id(), imp.device_id)
        sent = deals_of(imp.tenant_id, imp.user_id, imp.key, args.deals, rng)
        t0 = time.perf_counter()
        for i in range(0, len(sent), adopt.MAX_DEALS):
            adopt.import_deals(db, who, sent[i:i + adopt.MAX_DEALS])
        results["import (1000 a request)"] = time.perf_counter() - t0
        caller = Caller(push.tenant_id, push.user_id, "ADMIN", new_id(), push.device_id)
        creates = [{"table": "deals", "op": "create", "id": d["id"],
                    "fields": {k: d[k] for k in ("title", "status", "value", "phi",
                                                 "phi_key_version")}}
                   for d in deals_of(push.tenant_id, push.user_id, push.key, args.deals, rng)]
        t0 = time.perf_counter()
        for i in range(0, len(creates), 500):
            result = run_push(db, caller, parse_request(body(push.device_id,
                                                             creates[i:i + 500], i + 1)))
            assert all(v.verdict == "applied" for v in result.verdicts)
        results["push (500 creates a request)"] = time.perf_counter() - t0
    print(f"{args.deals} deals, a third with PHI, through the services (no HTTP):")
    for name, seconds in results.items():
        rate = args.deals / seconds
        print(f"  {name:30} {rate:8.0f} deals/s   100k deals: {100000 / rate:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
