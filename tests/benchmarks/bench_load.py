"""Bounded load from simulated devices (issue 11): D devices in T tenants, each pushing
batches of mutations over HTTP on 127.0.0.1 and then pulling until it is up to date, for
a fixed time; beside a baseline measured in the same run: the same batches as plain
INSERTs through row-level security by the app role (pipelined, one transaction per
batch, one connection per device).

Run it with `bash tests/benchmarks/run_load.sh [--devices 50] [--tenants 5] [--seconds 20]`.
It makes its own PostgreSQL 15 cluster (fsync off), starts the API in a child process,
and stops both at the end. Every thread stops by itself after `--seconds` or
`--max-batches`. Writes OUT/bench-load.json and OUT/bench-load.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_push import (  # the sibling module (the script's folder is on sys.path)
    PASSWORD,
    HttpServer,
    Lane,
    baseline_batch,
    bench_database,
    body,
    build_batches,
    log,
    make_lane,
    new_device,
    stats,
)

HERE = Path(__file__).parent


def device_lanes(conn: psycopg.Connection[Any], tenants: list[Lane], devices: int,
                 batches: int, size: int, rng: random.Random) -> list[Lane]:
    """One lane per device: its tenant's admin, a device of its own, its own batches."""
    out = []
    for n in range(devices):
        t = tenants[n % len(tenants)]
        lane = Lane(t.tenant_id, t.user_id, t.email, t.key)
        lane.device_id = new_device(conn, lane)
        build_batches(lane, batches, size, rng)
        out.append(lane)
    return out


def run(lanes: list[Lane], seconds: float, max_batches: int,
        step: Any) -> dict[str, Any]:
    """One thread per lane calling `step(n, lane, i)` for batch i until the time or the
    bound; returns what the steps recorded."""
    record: dict[str, list[float]] = {"push_ms": [], "pull_ms": []}
    counts = {"mutations": 0, "pulled": 0}
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(lanes) + 1)
    stop_at = [0.0]

    def work(n: int) -> None:
        lane = lanes[n]
        state: dict[str, Any] = {}
        start.wait()
        try:
            for i, batch in enumerate(lane.batches[:max_batches]):
                if time.perf_counter() >= stop_at[0]:
                    break
                got = step(n, lane, i, state)
                with lock:
                    counts["mutations"] += len(batch)
                    counts["pulled"] += got.get("pulled", 0)
                    for key in record:
                        record[key] += got.get(key, [])
        except Exception as exc:  # reported, never hidden
            errors.append(f"device {n}: {type(exc).__name__}: {str(exc)[:300]}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(lanes))]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join(seconds + 600)
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError("; ".join(errors[:5]))
    return {"seconds": elapsed, "mutations": counts["mutations"],
            "mutations_per_s": counts["mutations"] / elapsed if elapsed else 0.0,
            "pulled_changes": counts["pulled"],
            **{k: stats(v) for k, v in record.items() if v}}


def measure(dsn_app: str, tenants: list[Lane], args: argparse.Namespace,
            http: HttpServer, rng: random.Random) -> dict[str, Any]:
    with psycopg.connect(dsn_app, autocommit=True) as conn:
        lanes = device_lanes(conn, tenants, args.devices, args.max_batches, args.batch, rng)
    conns = [psycopg.connect(dsn_app, autocommit=True) for _ in lanes]

    def plain(n: int, lane: Lane, i: int, _state: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        baseline_batch(conns[n], lane, lane.batches[i])
        return {"push_ms": [(time.perf_counter() - t0) * 1000]}

    try:
        log(f"baseline: {len(lanes)} connections, plain INSERTs through RLS")
        baseline = run(lanes, args.seconds, args.max_batches, plain)
    finally:
        for c in conns:
            c.close()
    with psycopg.connect(dsn_app, autocommit=True) as conn:
        lanes = device_lanes(conn, tenants, args.devices, args.max_batches, args.batch, rng)
    clients = []
    for lane in lanes:
        client = httpx.Client(base_url=http.url, timeout=120)
        r = client.post("/v1/auth/sign-in", json={"email": lane.email, "password": PASSWORD,
                                                   "device_id": lane.device_id})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        clients.append(client)

    def device(n: int, lane: Lane, i: int, state: dict[str, Any]) -> dict[str, Any]:
        client = clients[n]
        t0 = time.perf_counter()
        r = client.post("/v1/sync/push", json=body(lane.device_id, lane.batches[i],
                                                   i * args.batch + 1))
        push_ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"push: HTTP {r.status_code}: {r.text[:200]}")
        pulls, pulled = [], 0
        while True:  # pull to the checkpoint, page by page
            params = {"cursor": state["cursor"]} if state.get("cursor") else {}
            t0 = time.perf_counter()
            r = client.get("/v1/sync/pull", params=params)
            pulls.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"pull: HTTP {r.status_code}: {r.text[:200]}")
            page = r.json()
            state["cursor"] = page["cursor"]
            pulled += len(page["changes"])
            if page["up_to_date"]:
                break
        return {"push_ms": [push_ms], "pull_ms": pulls, "pulled": pulled}

    try:
        log(f"devices: {len(lanes)} over HTTP, push then pull")
        devices = run(lanes, args.seconds, args.max_batches, device)
    finally:
        for c in clients:
            c.close()
    return {"baseline": baseline, "devices": devices,
            "rate_ratio": devices["mutations_per_s"] / baseline["mutations_per_s"]
            if baseline["mutations_per_s"] else None}


def table(result: dict[str, Any]) -> str:
    b, d = result["baseline"], result["devices"]
    rows = ["| figure | devices over HTTP | baseline (plain INSERT through RLS) | ratio |",
            "|---|---|---|---|",
            f"| mutations/s in all | {d['mutations_per_s']:,.0f} | {b['mutations_per_s']:,.0f}"
            f" | {result['rate_ratio']:.2f}x |",
            f"| push of {result['batch']}: median / p95 ms | {d['push_ms']['median']:.1f} / "
            f"{d['push_ms']['p95']:.1f} | {b['push_ms']['median']:.1f} / "
            f"{b['push_ms']['p95']:.1f} | {d['push_ms']['p95'] / b['push_ms']['p95']:.2f}x |"]
    if "pull_ms" in d:
        rows.append(f"| pull page: median / p95 ms ({d['pulled_changes']:,} changes pulled)"
                    f" | {d['pull_ms']['median']:.1f} / {d['pull_ms']['p95']:.1f} | – | – |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--tenants", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--max-batches", type=int, default=60,
                   help="bound on the batches one device pushes")
    p.add_argument("--out", default=str(HERE / "out"))
    args = p.parse_args(argv)
    if not 1 <= args.tenants <= args.devices <= 500:
        p.error("need 1 <= --tenants <= --devices <= 500")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "command": "bash tests/benchmarks/run_load.sh " + " ".join(argv or sys.argv[1:]),
        "devices": args.devices, "tenants": args.tenants, "batch": args.batch,
        "seconds": args.seconds}
    http: HttpServer | None = None
    with bench_database("load", {"max_connections": str(args.devices + 50)}) as dsn_app:
        try:
            with psycopg.connect(dsn_app, autocommit=True) as conn:
                tenants = [make_lane(conn, n) for n in range(args.tenants)]
            http = HttpServer(dsn_app)
            http.wait()
            result.update(measure(dsn_app, tenants, args, http, random.Random(7)))
        finally:
            if http is not None:
                http.stop()
    text = table(result)
    print(text)
    (out / "bench-load.json").write_text(json.dumps(result, indent=1))
    (out / "bench-load.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
