"""ClosePlan server sync benchmark (issue 11): pull pages, the bootstrap stream, long-poll
latency and the cost of row-level security, on a private PostgreSQL 15 cluster.

    .venv/bin/python tests/benchmarks/sync_bench.py [--deals 1000000] [--out DIR]

It makes a cluster in a temporary folder, migrates it, and builds one tenant of
`--deals` deals as the app role under RLS (INSERT ... SELECT generate_series, 50,000
rows per transaction, so many rows share a version; ids in creation order as the
desktop makes them; a third with a PHI envelope). Then it measures, and reports median
and p95 (rates: median and best) beside each target, as a table and OUT/sync_bench.json:

- a pull page of 1,000 changes (snapshot, query, JSON body), walking from zero;
- the bootstrap stream of the whole tenant, in the server (bytes produced) and over
  HTTP (uvicorn on 127.0.0.1, httpx reading the stream);
- a change committed by one connection seen by a long-polling other (the listener and
  the long-poll loop the route uses);
- RLS overhead: the same SQL as the app role under RLS and as a superuser (no RLS; the
  statements carry an explicit tenant filter anyway), interleaved, as a ratio.

No figure is asserted anywhere: test_sync_bench_smoke.py only checks they are produced.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "server"))

from bench import fmt, log, machine, stats  # noqa: E402

from closeplan_desktop.core.domain.ids import new_id  # noqa: E402
from closeplan_desktop.core.security import crypto  # noqa: E402
from closeplan_desktop.server.caller import Caller  # noqa: E402
from closeplan_desktop.server.db import admin, cluster, migrate  # noqa: E402
from closeplan_desktop.server.db.pool import Database  # noqa: E402
from closeplan_desktop.server.keys import escrow  # noqa: E402
from closeplan_desktop.server.sync import bootstrap, live, pull, pull_cursor  # noqa: E402
from closeplan_desktop.server.sync.pull_cursor import PullPosition  # noqa: E402
from closeplan_desktop.server.sync.pull_shapes import (  # noqa: E402
    BY_NAME,
    safe_id,
    scope_params,
    text,
)

BATCH = 50_000
PASSWORD = "bench sync password 2026"

DEALS = BY_NAME["deals"]
# name: (label, unit, target, statistic the target is about)
FIGURES: dict[str, tuple[str, str, float | None, str]] = {
    "pull_page": ("pull page of 1,000 changes", "ms", 50, "p95"),
    "bootstrap_rate": ("bootstrap stream, in the server", "deals/s", 150_000, "median"),
    "bootstrap_rate_copy": ("the same by COPY ... TO STDOUT (tried in the fourth pass, not "
                            "kept), interleaved", "deals/s", None, "median"),
    "bootstrap_http_rate": ("bootstrap stream over HTTP (uvicorn + httpx)", "deals/s", None,
                            "median"),
    "line_rate": ("the bootstrap's deal lines alone, ids unescaped (0011)", "deals/s", None,
                  "median"),
    "line_rate_0010": ("the same with 0010's line (ids through to_json), interleaved",
                       "deals/s", None, "median"),
    "live_latency": ("commit seen by a long-polling pull", "ms", 1000, "p95"),
    "decrypt_phi": ("decrypt_phi warm: the seed's Deal Access query, log row committed",
                    "ms", 1, "median"),
    "decrypt_phi_0003": ("the same with 0003's decrypt_phi (three reads), interleaved",
                         "ms", None, "median"),
    "decrypt_phi_row_chain": ("the same with the log row chained per row (before 0015's "
                              "links), interleaved in blocks", "ms", None, "median"),
    "rls_pull_page": ("RLS: pull page query", "ms", None, "median"),
    "rls_first_page": ("RLS: bootstrap's first page of deals", "ms", None, "median"),
    "rls_checkpoint": ("RLS: checkpoint hash of the deals", "ms", None, "median"),
    "rls_stream": ("RLS: 100,000 deal lines by id", "ms", None, "median"),
}
RLS = ("rls_pull_page", "rls_first_page", "rls_checkpoint", "rls_stream")


def build(app_dsn: str, n: int) -> tuple[str, str]:
    """A tenant of `n` deals made as the app role; returns (tenant id, admin id)."""
    import bcrypt

    tenant_id, admin_id = new_id(), new_id()
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with psycopg.connect(app_dsn) as conn:
        conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
        conn.execute("INSERT INTO tenants (id, name, domain) VALUES (%s, 'Bench Sync', "
                     "'bench-sync.example')", (tenant_id,))
        conn.execute("INSERT INTO users (tenant_id, id, email, first_name, last_name, password, "
                     "role) VALUES (%s, %s, 'admin@bench-sync.example', 'Dana', 'Whitfield', "
                     "%s, 'ADMIN')", (tenant_id, admin_id, digest))
        conn.execute("INSERT INTO phi_keys (tenant_id, version, state) VALUES (%s, 1, 'ACTIVE')",
                     (tenant_id,))
        conn.commit()
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
            conn.execute("""
INSERT INTO deals (tenant_id, id, title, status, value, phi, phi_key_version, created_by_id,
                   created_at, updated_at)
SELECT current_tenant_id(), 'cb' || lpad(g::text, 23, '0'),
       'Deal ' || g || ' ' || (ARRAY['infusion pumps', 'cardiology suite', 'dialysis unit',
                                     'MRI scanner', 'patient monitoring'])[1 + g %% 5],
       (ARRAY['DRAFT', 'ACTIVE', 'CLOSED_WON', 'CLOSED_LOST'])[1 + g %% 4]::deal_status,
       (g %% 100000) * 12.5 + 0.25,
       CASE WHEN g %% 3 = 0 THEN json_build_object(
           'v', 1, 'k', 1,
           'n', encode(substr(decode(md5(%(t)s || g::text), 'hex'), 1, 12), 'base64'),
           'c', translate(encode(decode(repeat(md5(g::text), 5), 'hex'), 'base64'), E'\\n', ''))
       END,
       CASE WHEN g %% 3 = 0 THEN 1 END, %(a)s,
       now() - (%(n)s::int - g) * interval '1 minute',
       now() - (%(n)s::int - g) * interval '1 minute'
FROM generate_series(%(lo)s::int, %(hi)s::int) g""", {"t": tenant_id, "a": admin_id, "n": n,
                                            "lo": start + 1, "hi": min(n, start + BATCH)})
            conn.commit()
            done = min(n, start + BATCH)
            log(f"  {done:,} deals ({done / (time.perf_counter() - t0):,.0f}/s)")
    return tenant_id, admin_id


# The seed's "Deal Access" query, verbatim but for psycopg's parameter style.
DEAL_ACCESS = ("SELECT d.*,\n  decrypt_phi(d.phi) as decrypted_phi\nFROM deals d\n"
               "WHERE d.tenant_id = current_tenant_id()\n  AND d.id = %(deal_id)s")


# 0003's decrypt_phi, made beside the current one to time both in the same run.
BEFORE = "decrypt_phi_0003"


def make_decrypt_before(admin_dsn: str) -> None:
    """`decrypt_phi_0003(json)`: 0003's body (three reads a call), as a superuser must."""
    body = importlib.import_module(
        "closeplan_desktop.server.db.migrations.versions.0003_decrypt_phi").BODY
    with psycopg.connect(admin_dsn, autocommit=True) as su:
        su.execute(f"CREATE FUNCTION {BEFORE}(phi json) RETURNS json LANGUAGE plpython3u "
                   "VOLATILE STRICT SET search_path = pg_catalog, public AS $body$"
                   + body + "$body$")
        su.execute(f"GRANT EXECUTE ON FUNCTION {BEFORE}(json) TO {admin.APP_ROLE}")


# The access-log chain's triggers: 0015's links, or the per-row chain before it (its
# functions stay defined), swapped between blocks of calls.
CHAIN_TRIGGERS = {
    "links": ("DROP TRIGGER IF EXISTS access_logs_chain_links ON access_logs",
              "DROP TRIGGER IF EXISTS access_logs_chain ON access_logs",
              "DROP TRIGGER IF EXISTS access_logs_chain_head ON access_logs",
              "CREATE TRIGGER access_logs_chain_links AFTER INSERT ON access_logs "
              "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
              "EXECUTE FUNCTION link_server_rows()"),
    "row": ("DROP TRIGGER IF EXISTS access_logs_chain_links ON access_logs",
            "CREATE TRIGGER access_logs_chain BEFORE INSERT ON access_logs FOR EACH ROW "
            "EXECUTE FUNCTION chain_server_row()",
            "CREATE TRIGGER access_logs_chain_head AFTER INSERT ON access_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION flush_server_chain()"),
}
BLOCK = 10


def decrypt_latencies(app_dsn: str, admin_dsn: str, tenant_id: str, admin_id: str,
                      escrow_public: bytes, repeat: int) -> dict[str, list[float]]:
    """The seed's Deal Access query on a deal with real PHI, the tenant having granted the
    server its key: each a transaction of its own, timed to its commit (the log row
    included), with the current decrypt_phi and 0003's in turn; and, in alternate blocks
    of BLOCK calls, the current one with the log row chained per row (before 0015). The
    first calls in the backend (Python, the key) and of each block (plans made again
    after the trigger swap) are left out."""
    phi_key, deal_id = crypto.new_key(), new_id()
    with psycopg.connect(app_dsn) as conn, psycopg.connect(admin_dsn, autocommit=True) as su:
        # The per-row chain numbers 1, 2, 3 per tenant: the sequence's numbers start far
        # above them so the two never meet in the unique index.
        su.execute("SELECT setval('server_chain_seq', 1000000000000)")
        conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
        conn.execute("INSERT INTO key_grants (tenant_id, id, key_version, grantee_kind, "
                     "grantee_id, wrapped) VALUES (%s, %s, 1, 'SERVER', %s, %s)",
                     (tenant_id, new_id(), escrow.key_id(escrow_public),
                      escrow.wrap_key(escrow_public, tenant_id, 1, phi_key)))
        conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, phi, "
                     "phi_key_version, created_by_id) VALUES (%s, %s, 'Decrypt bench', "
                     "'ACTIVE', 1, %s, 1, %s)",
                     (tenant_id, deal_id, crypto.encrypt_phi(phi_key, 1, tenant_id, deal_id,
                                                             {"patient_name": "Pat Bench"}),
                      admin_id))
        conn.commit()
        out: dict[str, list[float]] = {"decrypt_phi": [], BEFORE: [],
                                       "decrypt_phi_row_chain": []}

        def call(function: str) -> float:
            query = DEAL_ACCESS.replace("decrypt_phi(", f"{function}(")
            t0 = time.perf_counter()
            conn.execute("SELECT set_tenant_context(%s), set_user_context(%s)",
                         (tenant_id, admin_id))
            row = conn.execute(query, {"deal_id": deal_id}).fetchone()
            conn.commit()
            if row is None or row[-1] is None:
                raise RuntimeError("decrypt_phi refused the benchmark's own deal")
            return (time.perf_counter() - t0) * 1000

        for b in range(2 * max(1, repeat // BLOCK)):
            chain = ("links", "row")[b % 2]
            for statement in CHAIN_TRIGGERS[chain]:
                su.execute(statement)
            names = ["decrypt_phi", BEFORE] if chain == "links" else ["decrypt_phi_row_chain"]
            for i in range(BLOCK + 1):
                # In turn, each first every other time (the order would favour one).
                for name in names[::1 if i % 2 else -1]:
                    took = call(name.replace("_row_chain", ""))
                    if i:
                        out[name].append(took)
        for statement in CHAIN_TRIGGERS["links"]:
            su.execute(statement)
    return out


def add_device(app_dsn: str, tenant_id: str, user_id: str) -> str:
    device_id = new_id()
    with psycopg.connect(app_dsn) as conn:
        conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
        conn.execute("INSERT INTO devices (tenant_id, id, user_id, name, status) "
                     "VALUES (%s, %s, %s, 'Bench laptop', 'ACTIVE')", (tenant_id, device_id,
                                                                       user_id))
    return device_id


def timed_ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def pull_pages(db: Database, who: Caller, pages: int) -> list[float]:
    samples: list[float] = []
    cursor: str | None = None
    while len(samples) < pages:
        box: list[pull.PullPage] = []

        def one(cursor: str | None = cursor, box: list[pull.PullPage] = box) -> None:
            with pull.snapshot(db, who) as conn:
                page = pull.pull(conn, who, cursor, 1000)
                page.to_json()
                box.append(page)

        samples.append(timed_ms(one))
        cursor = box[0].cursor
        if box[0].up_to_date:
            break
    return samples


class CopyBootstrap(bootstrap.Bootstrap):
    """The stream with its deals by `COPY (SELECT line ...) TO STDOUT` in text format,
    rows read straight from libpq, backslashes undone per block (tried in the fourth
    pass, not kept: PostgreSQL's COPY output escaping costs more than it saves)."""

    @staticmethod
    def _chunks(lines: Any) -> Any:
        buf: list[bytes] = []
        size = 0
        for piece in lines:
            buf.append(piece.encode() if isinstance(piece, str) else piece)
            size += len(buf[-1])
            if size >= bootstrap.CHUNK_BYTES:
                yield b"".join(buf)
                buf, size = [], 0
        if buf:
            yield b"".join(buf)

    def _rest(self, end: Any, after: str | None) -> Any:
        params = self._params()
        params["first"] = self._first_page_ids(end)
        where = [str(DEALS.scope_sql(self.caller)), "id <> ALL(%(first)s::text[])"]
        sql = (f"SELECT {DEALS.line_sql()} FROM deals WHERE {' AND '.join(where)} "
               "ORDER BY tenant_id, id")
        prefix = len(b'{"table":"deals","row":{"id":"')
        with self._conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params):
            pgconn = self._conn.pgconn
            rows: list[Any] = []
            while True:
                n, row = pgconn.get_copy_data(0)
                if n > 0:
                    rows.append(row)
                if rows and (n <= 0 or len(rows) == bootstrap.FETCH):
                    self.counts["deals"] = self.counts.get("deals", 0) + len(rows)
                    last = bytes(rows[-1])
                    cursor = pull_cursor.encode_bootstrap(
                        self.caller, bootstrap.BootstrapPosition(
                            self.checkpoint, end, last[prefix:last.index(b'"', prefix)].decode()))
                    block = b"".join(rows)
                    if b"\\" in block:  # COPY doubles backslashes (no control characters here)
                        block = block.replace(b"\\\\", b"\\")
                    yield block + (bootstrap._line({"cursor": cursor}) + "\n").encode()
                    rows = []
                if n <= 0:
                    break
            while pgconn.get_result() is not None:
                pass


def bootstrap_rates(db: Database, who: Caller, n: int, repeat: int) -> dict[str, list[float]]:
    """The whole stream in the server, as it is and by COPY (tried), in turn."""
    rates: dict[str, list[float]] = {"bootstrap_rate": [], "bootstrap_rate_copy": []}
    for i in range(repeat):
        for name in list(rates)[::1 if i % 2 else -1]:
            stream = bootstrap.open_bootstrap(db, who)
            if name == "bootstrap_rate_copy":
                stream.__class__ = CopyBootstrap
            t0 = time.perf_counter()
            size = sum(len(chunk) for chunk in stream)
            rates[name].append(n / (time.perf_counter() - t0))
            log(f"  {name}: {rates[name][-1]:,.0f} deals/s, {size / 1e6:,.0f} MB")
    return rates


def line_rates(app_dsn: str, tenant_id: str, n: int, repeat: int) -> dict[str, list[float]]:
    """The bootstrap's query of every deal line alone, with the current line and with
    0010's (ids escaped by to_json), in turn: lines/s of each."""
    now = DEALS.line_sql()
    before = now
    for column in ("id", "created_by_id"):
        before = before.replace(safe_id(column), text(column))
    out: dict[str, list[float]] = {"line_rate": [], "line_rate_0010": []}
    with psycopg.connect(app_dsn) as conn:
        for i in range(repeat):
            for name, line in list(zip(out, (now, before), strict=True))[::1 if i % 2 else -1]:
                conn.execute("SELECT set_tenant_context(%s)", (tenant_id,))
                t0 = time.perf_counter()
                with conn.cursor(name="lines") as cur:
                    cur.execute(f"SELECT {line} FROM deals WHERE tenant_id = %s "
                                "ORDER BY tenant_id, id", (tenant_id,))
                    while cur.fetchmany(bootstrap.FETCH):
                        pass
                out[name].append(n / (time.perf_counter() - t0))
                conn.commit()
    return out


def bootstrap_http_rates(app_dsn: str, tenant_id: str, admin_id: str, n: int,
                         repeat: int) -> list[float]:
    import httpx
    from api_support import LiveServer

    from closeplan_desktop.server.api.app import create_app
    from closeplan_desktop.server.config import ServerConfig

    device = add_device(app_dsn, tenant_id, admin_id)
    live_server = LiveServer(create_app(ServerConfig(dsn=app_dsn, pool_min=1, pool_max=4)))
    live_server.start()
    rates = []
    try:
        with httpx.Client(base_url=live_server.url, timeout=120) as http:
            r = http.post("/v1/auth/sign-in", json={"email": "admin@bench-sync.example",
                                                     "password": PASSWORD, "device_id": device})
            r.raise_for_status()
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for _ in range(repeat):
                t0 = time.perf_counter()
                size = 0
                with http.stream("GET", "/v1/sync/bootstrap", headers=auth) as resp:
                    resp.raise_for_status()
                    for chunk in resp.iter_bytes(1 << 20):
                        size += len(chunk)
                rates.append(n / (time.perf_counter() - t0))
                log(f"  bootstrap over HTTP: {rates[-1]:,.0f} deals/s, {size / 1e6:,.0f} MB")
    finally:
        live_server.stop()
    return rates


def live_latencies(app_dsn: str, db: Database, who: Caller, repeat: int) -> list[float]:
    listener = live.Listener(app_dsn)
    listener.start()
    samples: list[float] = []
    try:
        with psycopg.connect(app_dsn) as writer:
            for i in range(repeat):
                with pull.snapshot(db, who) as conn:
                    start = pull.checkpoint_of(conn, who)
                cursor = pull_cursor.encode_pull(who, PullPosition(start))
                seen: list[float] = []

                def look(cursor: str = cursor) -> pull.PullPage:
                    with pull.snapshot(db, who) as conn:
                        return pull.pull(conn, who, cursor, 1000)

                def wait(start: int = start, look: Callable[[], pull.PullPage] = look,
                         seen: list[float] = seen) -> None:
                    page = live.poll(listener, who.tenant_id, start, 10.0, look)
                    if page.changes:
                        seen.append(time.perf_counter())

                th = threading.Thread(target=wait)
                th.start()
                while listener.waiting < 1:
                    time.sleep(0.001)
                time.sleep(0.05)
                writer.execute("SELECT set_tenant_context(%s)", (who.tenant_id,))
                writer.execute("UPDATE deals SET title = %s WHERE id = 'cb' || lpad('7', 23, '0')",
                               (f"Live {i}",))
                writer.commit()
                committed = time.perf_counter()
                th.join(15)
                if seen:
                    samples.append(max(0.0, (seen[0] - committed) * 1000))
    finally:
        listener.close()
    return samples


def rls_pairs(admin_dsn: str, app_dsn: str, who: Caller, repeat: int) -> dict[str, Any]:
    """Each query as the app role under RLS and as a superuser, interleaved."""
    params: dict[str, Any] = {**scope_params(who)}
    deals = BY_NAME["deals"]
    with psycopg.connect(admin_dsn) as su:
        checkpoint = int(su.execute("SELECT sync_version FROM tenants WHERE id = %s",
                                    (who.tenant_id,)).fetchone()[0])  # type: ignore[index]
        middle = su.execute("SELECT row_version, id FROM deals WHERE tenant_id = %s ORDER BY "
                            "row_version, id OFFSET (SELECT count(*) / 2 FROM deals WHERE "
                            "tenant_id = %s) LIMIT 1", (who.tenant_id, who.tenant_id)).fetchone()
    assert middle is not None
    pos = PullPosition(int(middle[0]), "deals", str(middle[1]))
    queries = {
        "rls_pull_page": (pull.pull_sql(who, pos, 1000),
                          {**params, "after_version": pos.version, "after_key": pos.key,
                           "checkpoint": checkpoint}),
        "rls_first_page": (f"SELECT {deals.line_sql()} FROM deals WHERE {deals.scope_sql(who)} "
                           "AND deleted_at IS NULL ORDER BY updated_at DESC, id DESC LIMIT 200",
                           params),
        "rls_checkpoint": ("SELECT count(*), sum(('x' || left(md5('deals:' || id || ':' || "
                           "row_version::text), 16))::bit(64)::bigint) FROM deals WHERE "
                           f"{deals.scope_sql(who)}", params),
        "rls_stream": (f"SELECT {deals.line_sql()} FROM deals WHERE {deals.scope_sql(who)} "
                       "ORDER BY tenant_id, id LIMIT 100000", params),
    }
    out: dict[str, Any] = {}
    with psycopg.connect(app_dsn, autocommit=True) as app, \
            psycopg.connect(admin_dsn, autocommit=True) as su:
        for name, (sql, args) in queries.items():
            rls, plain = [], []
            for _ in range(repeat):
                with app.transaction():
                    app.execute("SELECT set_tenant_context(%s), set_config('TimeZone', 'UTC', "
                                "true)", (who.tenant_id,))
                    rls.append(timed_ms(lambda sql=sql, args=args: app.execute(sql, args)
                                        .fetchall()))
                with su.transaction():
                    su.execute("SELECT set_config('TimeZone', 'UTC', true)")
                    plain.append(timed_ms(lambda sql=sql, args=args: su.execute(sql, args)
                                          .fetchall()))
            out[name] = {"rls": stats(rls), "plain": stats(plain),
                         "ratio": statistics_ratio(rls, plain)}
            log(f"  {name}: {out[name]['ratio']:.2f}x")
    return out


def statistics_ratio(a: list[float], b: list[float]) -> float:
    return stats(a)["median"] / max(stats(b)["median"], 1e-9)


def rate_stats(rates: list[float]) -> dict[str, float]:
    return {"median": sorted(rates)[len(rates) // 2], "best": max(rates),
            "worst": min(rates), "n": len(rates)}


def load() -> str:
    """The machine's load averages (1, 5, 15 min): other work shares its cores."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def table(result: dict[str, Any]) -> str:
    lines = ["| figure | unit | target | median / p95 (rates: median / best) | RLS ratio |",
             "|---|---|---|---|---|"]
    for name, (label, unit, target, which) in FIGURES.items():
        fig = result["figures"].get(name)
        if fig is None:
            continue
        tgt = "–" if target is None else (f"{which} ≥ {fmt(target, unit)}" if unit == "deals/s"
                                          else f"{which} ≤ {fmt(target, unit)}")
        if name in RLS:
            cell = (f"{fmt(fig['rls']['median'], unit)} / {fmt(fig['rls']['p95'], unit)} "
                    f"(superuser {fmt(fig['plain']['median'], unit)})")
            ratio = f"{fig['ratio']:.2f}x"
        elif unit == "deals/s":
            cell, ratio = f"{fmt(fig['median'], unit)} / {fmt(fig['best'], unit)}", "–"
        else:
            cell, ratio = f"{fmt(fig['median'], unit)} / {fmt(fig['p95'], unit)}", "–"
        lines.append(f"| {label} | {unit} | {tgt} | {cell} | {ratio} |")
    over = result.get("rls_overhead")
    lines.append(f"| RLS overhead (geometric mean of the ratios) | x | ≤ 1.3x | – | "
                 f"{'–' if over is None else f'{over:.2f}x'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deals", type=int, default=1_000_000)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--pages", type=int, default=300, help="pull pages to time")
    p.add_argument("--bootstraps", type=int, default=3, help="bootstrap streams to time")
    p.add_argument("--live", type=int, default=30, help="long-poll samples")
    p.add_argument("--repeat", type=int, default=15, help="repetitions of each RLS query")
    p.add_argument("--decrypts", type=int, default=200, help="decrypt_phi calls to time")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="closeplan-sync-bench-"))
    c = cluster.Cluster(root)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "machine": machine(),
        "command": "python tests/benchmarks/sync_bench.py " + " ".join(argv or sys.argv[1:]),
        "deals": args.deals, "figures": {}}
    key_file = root / "escrow.key"
    try:
        c.init({**cluster.FAST_SETTINGS, "closeplan.escrow_key_file": f"'{key_file}'"})
        escrow_public = escrow.write_key_file(key_file)
        c.give_to_server_user(key_file)
        c.start()
        try:
            admin.ensure_roles(c.dsn())
            admin.create_database(c.dsn(), "bench")
            migrate.upgrade(c.dsn("bench"))
            app_dsn, admin_dsn = c.dsn("bench", user=admin.APP_ROLE), c.dsn("bench")
            log(f"building {args.deals:,} deals as the app role (load {load()})")
            tenant_id, admin_id = build(app_dsn, args.deals)
            with psycopg.connect(admin_dsn, autocommit=True) as su:
                su.execute("VACUUM ANALYZE")
            who = Caller(tenant_id, admin_id, "ADMIN", new_id(),
                         add_device(app_dsn, tenant_id, admin_id))
            figs = result["figures"]
            with Database(app_dsn, min_size=1, max_size=4) as db:
                log(f"pull pages (load {load()})")
                figs["pull_page"] = stats(pull_pages(db, who, args.pages))
                log(f"bootstrap (load {load()})")
                for name, rates in bootstrap_rates(db, who, args.deals,
                                                   args.bootstraps).items():
                    figs[name] = rate_stats(rates)
                for name, rates in line_rates(app_dsn, tenant_id, args.deals,
                                              args.bootstraps).items():
                    figs[name] = rate_stats(rates)
                figs["bootstrap_http_rate"] = rate_stats(bootstrap_http_rates(
                    app_dsn, tenant_id, admin_id, args.deals, args.bootstraps))
                log(f"long-poll latency (load {load()})")
                figs["live_latency"] = stats(live_latencies(app_dsn, db, who, args.live))
            log(f"decrypt_phi (load {load()})")
            make_decrypt_before(admin_dsn)
            for name, samples in decrypt_latencies(app_dsn, admin_dsn, tenant_id, admin_id,
                                                   escrow_public, args.decrypts).items():
                figs[name] = stats(samples)
            log(f"RLS overhead (load {load()})")
            figs.update(rls_pairs(admin_dsn, app_dsn, who, args.repeat))
            ratios = [figs[n]["ratio"] for n in RLS]
            result["rls_overhead"] = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            result["load_after"] = load()
        finally:
            c.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    (out / "sync_bench.json").write_text(json.dumps(result, indent=1))
    print(table(result))
    (out / "sync_bench.md").write_text(table(result) + "\n")
    log(f"wrote {out / 'sync_bench.json'} and {out / 'sync_bench.md'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.exit(main())
