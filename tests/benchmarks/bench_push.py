"""Push throughput (issue 11): batches of mutations through the push service, and over
HTTP on 127.0.0.1, from N threads for a fixed time, beside a baseline measured in the
same run: plain INSERTs (and UPDATEs) of the same rows through row-level security by the
app role, in pipeline mode, one transaction per batch.

Run it with `bash tests/benchmarks/run_push.sh [--threads 1,2,4] [--seconds 10] [--http]`.
It makes a private PostgreSQL 15 cluster (fsync off, like the tests; the baseline runs on
the same cluster, so the ratio is fair), one tenant per thread with an admin and a
device, and pre-builds every batch (70% creates, 30% updates of earlier deals, a third
with a PHI envelope sealed by the desktop's code) so that timing covers only the push.
With `--without-history`, the service runs once more with deal history's triggers
(0014) off. A third phase, the floor, runs the baseline's statements with the tables' own
triggers (version stamps, the server chain, deal history) switched off: plain INSERTs
through RLS (foreign keys still checked), the figure issue 11 compares push with. Each
phase stops by itself after `--seconds` or `--max-batches` per thread. Writes
OUT/bench-push.json and OUT/bench-push.md, and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import bcrypt
import psycopg

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.security import crypto
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db import admin, cluster, migrate
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.sync.mutations import SCHEMA_VERSION, parse_request
from closeplan_desktop.server.sync.push import run_push

HERE = Path(__file__).parent
DBNAME = "closeplan_bench"
PASSWORD = "bench push password 2026"
WORDS = ("Infusion pumps", "Cardiology suite", "MRI upgrade", "Dialysis chairs",
         "Patient monitors", "Scanner lease", "Ward beds", "Lab analysers")
STATUSES = ("DRAFT", "ACTIVE", "CLOSED_WON", "CLOSED_LOST")


def stats(samples: list[float]) -> dict[str, float]:
    """Median, p95 and mean of latencies (ms), as bench.py reports them."""
    s = sorted(samples) or [0.0]
    p95 = s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))]
    return {"median": statistics.median(s), "p95": p95, "mean": statistics.fmean(s),
            "n": len(samples)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Lane:
    """One thread's tenant, admin and device, and the batches it will push."""

    tenant_id: str
    user_id: str
    email: str
    key: bytes
    device_id: str = ""
    batches: list[list[dict[str, Any]]] = field(default_factory=list)


def make_lane(conn: psycopg.Connection[Any], n: int) -> Lane:
    tenant_id, user_id = new_id(), new_id()
    lane = Lane(tenant_id, user_id, f"admin{n}@bench-push-{n}.example", crypto.new_key())
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    with conn.transaction():
        conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant_id, f"Bench {n}"))
        conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, password,"
                     " role) VALUES (%s, %s, %s, 'Bench', 'Admin', %s, 'ADMIN')",
                     (tenant_id, user_id, lane.email, hashed))
        conn.execute("INSERT INTO phi_keys (tenant_id, version, state) VALUES (%s, 1, 'ACTIVE')",
                     (tenant_id,))
    return lane


def new_device(conn: psycopg.Connection[Any], lane: Lane) -> str:
    device_id = new_id()
    with conn.transaction():
        conn.execute("SELECT set_tenant_context(%s)", (lane.tenant_id,))
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status) VALUES "
                     "(%s, %s, %s, 'Bench laptop', 'ACTIVE')",
                     (lane.tenant_id, device_id, lane.user_id))
    return device_id


def build_batches(lane: Lane, count: int, size: int, rng: random.Random) -> None:
    """`count` batches of `size` mutations: creates, and updates of earlier creates."""
    made: list[str] = []
    lane.batches = []
    for _ in range(count):
        batch: list[dict[str, Any]] = []
        for _ in range(size):
            if made and rng.random() < 0.3:
                batch.append({"table": "deals", "op": "update", "id": rng.choice(made),
                              "base_version": 0,
                              "fields": {"status": rng.choice(STATUSES),
                                         "value": f"{rng.randint(0, 10**8) / 100:.2f}"}})
                continue
            deal_id = new_id()
            fields: dict[str, Any] = {"title": rng.choice(WORDS), "status": rng.choice(STATUSES),
                                      "value": f"{rng.randint(0, 10**9) / 100:.2f}"}
            if rng.random() < 1 / 3:
                fields["phi"] = crypto.encrypt_phi(lane.key, 1, lane.tenant_id, deal_id,
                                                   {"patient_name": "Jane Roe", "mrn": "4711"})
                fields["phi_key_version"] = 1
            batch.append({"table": "deals", "op": "create", "id": deal_id, "fields": fields})
            made.append(deal_id)
        lane.batches.append(batch)


def body(device_id: str, batch: list[dict[str, Any]], first_mid: int) -> dict[str, Any]:
    return {"device_id": device_id, "schema_version": SCHEMA_VERSION,
            "mutations": [{**m, "mid": first_mid + i} for i, m in enumerate(batch)]}


def baseline_batch(conn: psycopg.Connection[Any], lane: Lane,
                   batch: list[dict[str, Any]]) -> None:
    """The same rows as plain statements through RLS, pipelined, one transaction."""
    with conn.transaction(), conn.pipeline():
        conn.execute("SELECT set_tenant_context(%s)", (lane.tenant_id,))
        for m in batch:
            f = m["fields"]
            if m["op"] == "create":
                deal_id = m["id"]
                conn.execute(
                    "INSERT INTO deals (tenant_id, id, title, status, value, phi, "
                    "phi_key_version, created_by_id, owner_id) VALUES (%s, %s, %s, "
                    "%s::deal_status, %s, %s::json, %s, %s, %s)",
                    (lane.tenant_id, deal_id, f["title"], f["status"], Decimal(f["value"]),
                     f.get("phi"), f.get("phi_key_version"), lane.user_id, lane.user_id))
                action = "DEAL_CREATE"
            else:
                deal_id = m["id"]
                conn.execute("UPDATE deals SET status = %s::deal_status, value = %s, "
                             "updated_at = now() WHERE tenant_id = %s AND id = %s",
                             (f["status"], Decimal(f["value"]), lane.tenant_id, deal_id))
                action = "DEAL_UPDATE"
            conn.execute("INSERT INTO access_logs (tenant_id, id, user_id, deal_id, action, "
                         "access_type, resource_type, success) VALUES (%s, %s, %s, %s, %s, "
                         "'WRITE', 'deal', true)",
                         (lane.tenant_id, new_id(), lane.user_id, deal_id, action))


Runner = Callable[[int, Lane, int], None]


def run_phase(lanes: list[Lane], threads: int, seconds: float, max_batches: int,
              make_runner: Callable[[int], Runner]) -> dict[str, Any]:
    """`threads` threads, each pushing its lane's batches in order until the time or the
    batch bound is reached; per-batch latencies and the mutation rate."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    mutations = [0] * threads
    errors: list[str] = []
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def work(n: int) -> None:
        run = make_runner(n)
        lane = lanes[n]
        start.wait()
        try:
            for i, batch in enumerate(lane.batches[:max_batches]):
                if time.perf_counter() >= stop_at[0]:
                    break
                t0 = time.perf_counter()
                run(n, lane, i)
                latencies[n].append((time.perf_counter() - t0) * 1000)
                mutations[n] += len(batch)
        except Exception as exc:  # reported, never hidden
            errors.append(f"thread {n}: {type(exc).__name__}: {str(exc)[:300]}")

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join(seconds + 600)
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError("; ".join(errors))
    flat = [x for per in latencies for x in per]
    return {"mutations": sum(mutations), "seconds": elapsed,
            "mutations_per_s": sum(mutations) / elapsed if elapsed else 0.0,
            "batch_ms": stats(flat)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(dsn: str, port: int) -> int:
    """The API in this process (the child the HTTP phase starts), on 127.0.0.1 only."""
    import uvicorn

    from closeplan_desktop.server.api.app import create_app
    from closeplan_desktop.server.config import ServerConfig

    app = create_app(ServerConfig(dsn=dsn, pool_min=2, pool_max=16))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


class HttpServer:
    """The API in a child process, started and stopped by the benchmark."""

    def __init__(self, dsn: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--serve", dsn, str(self.port)])
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the API server exited at start-up")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the API server did not answer within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)


# The superuser's DSN of each bench database, by its app DSN (the floor's ALTER TABLE).
SUPERUSER: dict[str, str] = {}
FLOOR_TABLES = ("deals", "access_logs")
HISTORY_TRIGGERS = ("deals_history_insert", "deals_history_update")


@contextmanager
def history_off(dsn_app: str) -> Iterator[None]:
    """Deal history's triggers (server migration 0014) off for the block."""
    with psycopg.connect(SUPERUSER[dsn_app], autocommit=True) as su:
        for t in HISTORY_TRIGGERS:
            su.execute(f"ALTER TABLE deals DISABLE TRIGGER {t}")
        try:
            yield
        finally:
            for t in HISTORY_TRIGGERS:
                su.execute(f"ALTER TABLE deals ENABLE TRIGGER {t}")


@contextmanager
def triggers_off(dsn_app: str) -> Iterator[None]:
    """The tables' own triggers (not the foreign keys') off for the block."""
    with psycopg.connect(SUPERUSER[dsn_app], autocommit=True) as su:
        for t in FLOOR_TABLES:
            su.execute(f"ALTER TABLE {t} DISABLE TRIGGER USER")
        try:
            yield
        finally:
            for t in FLOOR_TABLES:
                su.execute(f"ALTER TABLE {t} ENABLE TRIGGER USER")


def measure(dsn_app: str, lanes: list[Lane], threads: int, args: argparse.Namespace,
            http: HttpServer | None, rng: random.Random) -> dict[str, Any]:
    """Baseline, service and (optionally) HTTP phases for `threads` threads, each on
    batches of its own (new deal ids and PHI nonces, built before the clock starts)."""
    used = lanes[:threads]
    out: dict[str, Any] = {"threads": threads}

    def fresh() -> None:
        for lane in used:
            build_batches(lane, args.max_batches, args.batch, rng)

    def plain(phase: str) -> dict[str, Any]:
        fresh()
        conns = [psycopg.connect(dsn_app, autocommit=True) for _ in used]
        try:
            with triggers_off(dsn_app) if phase == "floor" else contextlib.nullcontext():
                return run_phase(used, threads, args.seconds, args.max_batches,
                                 lambda n: lambda _n, lane, i: baseline_batch(
                                     conns[n], lane, lane.batches[i]))
        finally:
            for c in conns:
                c.close()

    out["baseline"] = plain("baseline")
    out["floor"] = plain("floor")
    phases: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Any]]]] = [
        ("service", contextlib.nullcontext)]
    if args.without_history:
        phases.append(("service_no_history", lambda: history_off(dsn_app)))
    for phase, around in phases:
        fresh()
        with Database(dsn_app, min_size=threads, max_size=threads + 1) as db, around():
            with psycopg.connect(dsn_app, autocommit=True) as conn:
                for lane in used:
                    lane.device_id = new_device(conn, lane)

            def service(n: int, db: Database = db) -> Runner:
                lane = used[n]
                caller = Caller(lane.tenant_id, lane.user_id, "ADMIN", new_id(), lane.device_id)

                def run(_n: int, lane: Lane, i: int) -> None:
                    result = run_push(db, caller, parse_request(
                        body(lane.device_id, lane.batches[i], i * args.batch + 1)))
                    bad = [v for v in result.verdicts if v.verdict != "applied"]
                    if bad:
                        raise RuntimeError(f"unexpected verdicts: {bad[:3]}")
                return run

            out[phase] = run_phase(used, threads, args.seconds, args.max_batches, service)
    if http is not None:
        import httpx

        fresh()
        with psycopg.connect(dsn_app, autocommit=True) as conn:
            for lane in used:
                lane.device_id = new_device(conn, lane)

        def over_http(n: int) -> Runner:
            lane = used[n]
            client = httpx.Client(base_url=http.url, timeout=120)
            r = client.post("/v1/auth/sign-in", json={"email": lane.email, "password": PASSWORD,
                                                       "device_id": lane.device_id})
            r.raise_for_status()
            client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

            def run(_n: int, lane: Lane, i: int) -> None:
                r = client.post("/v1/sync/push", json=body(lane.device_id, lane.batches[i],
                                                           i * args.batch + 1))
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
            return run

        out["http"] = run_phase(used, threads, args.seconds, args.max_batches, over_http)
    base = out["baseline"]
    for name in ("floor", "service", "service_no_history", "http"):
        if name in out:
            side = out[name]
            side["rate_ratio"] = (side["mutations_per_s"] / base["mutations_per_s"]
                                  if base["mutations_per_s"] else None)
            side["floor_ratio"] = (side["mutations_per_s"] / out["floor"]["mutations_per_s"]
                                   if out["floor"]["mutations_per_s"] else None)
            side["p95_ratio"] = (side["batch_ms"]["p95"] / base["batch_ms"]["p95"]
                                 if base["batch_ms"]["p95"] else None)
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"Push of batches of {result['batch']} mutations (70% creates, 30% updates, a "
             "third of creates with PHI); baseline: the same rows as plain INSERT/UPDATE "
             "through RLS, pipelined, one transaction per batch; floor: the same without the "
             "tables' own triggers.", "",
             "| threads | path | mutations/s | batch median / p95 (ms) | rate vs baseline | "
             "p95 vs baseline | rate vs floor |", "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        for name in ("baseline", "floor", "service", "service_no_history", "http"):
            if name not in run:
                continue
            side = run[name]
            rate = side.get("rate_ratio")
            p95 = side.get("p95_ratio")
            floor = side.get("floor_ratio")
            lines.append(
                f"| {run['threads']} | {name} | {side['mutations_per_s']:,.0f} | "
                f"{side['batch_ms']['median']:,.1f} / {side['batch_ms']['p95']:,.1f} | "
                f"{'–' if rate is None else f'{rate:.2f}x'} | "
                f"{'–' if p95 is None else f'{p95:.2f}x'} | "
                f"{'–' if floor is None or name == 'floor' else f'{floor:.2f}x'} |")
    return "\n".join(lines)


@contextmanager
def bench_database(name: str, settings: dict[str, str] | None = None) -> Iterator[str]:
    """A private PostgreSQL 15 cluster (fsync off, like the tests) with one migrated
    database, for the length of the block; yields the app role's DSN, then stops the
    cluster with its own pg_ctl and removes it."""
    root = Path(tempfile.mkdtemp(prefix=f"closeplan-bench-{name}-"))
    pg = cluster.Cluster(root)
    try:
        pg.init({**cluster.FAST_SETTINGS, **(settings or {})})
        pg.start()
        admin.ensure_roles(pg.dsn())
        admin.create_database(pg.dsn(), DBNAME)
        migrate.upgrade(pg.dsn(DBNAME))
        app = pg.dsn(DBNAME, user=admin.APP_ROLE)
        SUPERUSER[app] = pg.dsn(DBNAME)
        yield app
    finally:
        if pg.running():
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--threads", default="1,2,4", help="thread counts, one run each")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    p.add_argument("--batch", type=int, default=100, help="mutations per push")
    p.add_argument("--max-batches", type=int, default=400,
                   help="bound on the batches one thread pushes in a phase")
    p.add_argument("--http", action="store_true", help="also push over HTTP on 127.0.0.1")
    p.add_argument("--without-history", action="store_true",
                   help="also push with deal history's triggers off (what history costs)")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--serve", nargs=2, metavar=("DSN", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]))
    if not 1 <= args.batch <= 500:
        p.error("--batch must be between 1 and 500 (the push limit)")
    counts = sorted({int(x) for x in args.threads.split(",") if x.strip()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "command": "bash tests/benchmarks/run_push.sh " + " ".join(argv or sys.argv[1:]),
        "batch": args.batch, "seconds": args.seconds, "max_batches": args.max_batches,
        "runs": []}
    http: HttpServer | None = None
    with bench_database("push") as dsn_app:
        try:
            rng = random.Random(11)
            with psycopg.connect(dsn_app, autocommit=True) as conn:
                lanes = [make_lane(conn, n) for n in range(max(counts))]
            if args.http:
                http = HttpServer(dsn_app)
                http.wait()
            for threads in counts:
                log(f"{threads} thread(s): baseline, service{', http' if http else ''}")
                result["runs"].append(measure(dsn_app, lanes, threads, args, http, rng))
                (out / "bench-push.json").write_text(json.dumps(result, indent=1))
        finally:
            if http is not None:
                http.stop()
    text = table(result)
    print(text)
    (out / "bench-push.md").write_text(text + "\n")
    log(f"wrote {out / 'bench-push.json'} and {out / 'bench-push.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
