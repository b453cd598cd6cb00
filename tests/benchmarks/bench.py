"""ClosePlan Desktop benchmark harness (issue 5). Run it with tests/benchmarks/run.sh.

For each size it builds a workspace through the app's own import path (realistic rows
from core.demo, about a third with PHI; five access-log rows per deal: the import's
DEAL_CREATE plus four from the bench fixture), exports an unencrypted copy of it, then
measures every operation of the issue's table on both, interleaved, and reports the
median and p95 of each beside the unencrypted baseline, as a ratio.

Writes DIR/bench.json and DIR/bench.png, and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import measure_mapped_import
from fixture import bench_fixture_access_history
from plain import export_plain, open_plain

from closeplan_desktop.core.domain.enums import DealStatus, UserRole
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.tools import demo
from closeplan_desktop.core.usecases import (
    audit,
    auth,
    deal_import,
    deal_list,
    deals,
    frame,
    key_admin,
    users,
)
from closeplan_desktop.core.usecases.deal_list import SORT_COLUMNS, DealQuery

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ADMIN = "admin@bench-health.example"
PASSWORD = "Bench-Password-2026"
REPS = (("maria.lopez@bench-health.example", "Maria", "Lopez"),
        ("james.chen@bench-health.example", "James", "Chen"),
        ("priya.patel@bench-health.example", "Priya", "Patel"))
CHUNK = 50_000
PAGE = 200
SEARCH_WORDS = ("infusion", "cardiology", "monitoring", "dialysis", "scanner")

# name: (label, unit, kind, target at 1M, "max"/"min" for the target's direction)
FIGURES: dict[str, tuple[str, str, str, float | None, str]] = {
    "start_to_signin": ("process start to painted sign-in window", "ms", "latency", 350, "median"),
    "start_to_ready": ("process start to ready (workspace open, warm-up done)", "ms", "latency",
                       None, "median"),
    "warm_up": ("warm-up while the password is typed", "ms", "latency", None, "median"),
    "signin_to_page": ("sign-in (bcrypt 10) to first painted page", "ms", "latency", 250,
                       "median"),
    "sort_change": ("sort change (model reload: count + first page)", "ms", "latency", 50,
                    "p95"),
    "filter_change": ("status filter change (model reload)", "ms", "latency", 50, "p95"),
    "search_keystroke": ("search as you type, per keystroke", "ms", "latency", 30, "p95"),
    "pipeline": ("pipeline summary", "ms", "latency", 50, "p95"),
    "reveal": ("reveal PHI incl. committed log row", "ms", "latency", 15, "p95"),
    "board_first_screen": ("board first screen (4 headers + each column's first page)", "ms",
                           "latency", 50, "p95"),
    "board_scroll": ("board column scroll (one fetchMore of a page)", "ms", "latency", 50,
                     "p95"),
    "model_data": ("model data() per call, from Qt", "us", "latency", 3, "mean"),
    "repaint_scroll": ("repaint of a full page while scrolling", "ms", "latency", None, "p95"),
    "import_rate": ("import with PHI encryption", "deals/s", "rate", 50_000, "rate"),
    "mapped_import_rate": ("mapped CSV import, HubSpot-shaped, read + check + import (up to "
                           "100,000 rows; ratio: today's plain import / this)", "rows/s",
                           "rate", None, "rate"),
    "rotation_rate": ("PHI key rotation (re-encryption)", "rows/s", "rate", 50_000, "rate"),
    "verify_rate": ("audit chain verification", "rows/s", "rate", 300_000, "rate"),
    "export_rate": ("CSV export of every deal, no PHI", "rows/s", "rate", None, "rate"),
    "export_phi_rate": ("CSV export of every deal with PHI (one log row per PHI deal)",
                        "rows/s", "rate", None, "rate"),
    "disk_size": ("workspace size on disk", "MB", "size", None, "value"),
    "peak_rss": ("peak RSS, open and scrolled end to end", "MB", "size", 300, "value"),
}
QUERY_SET = ("sort_change", "filter_change", "search_keystroke", "pipeline", "reveal")
# Issue 15 (owner, close date, forecast): measure_owner.
FIGURES.update({
    "my_deals": ("'my deals': one owner's list, each sort (model reload)", "ms", "latency", 50,
                 "p95"),
    "close_filter": ("close-date filter or sort: this month, quarter, overdue (model reload)",
                     "ms", "latency", 50, "p95"),
    "forecast": ("forecast: weighted, closing this month / quarter (tenant, one owner)", "ms",
                 "latency", 50, "p95"),
})
OWNER_SET = ("my_deals", "close_filter", "forecast")
BOARD_SET = ("board_first_screen", "board_scroll")


def stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))]
    return {"median": statistics.median(s), "p95": p95, "mean": statistics.fmean(s),
            "n": len(s)}


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- building ---------------------------------------------------------------------------

def build(path: Path, n: int) -> dict[str, Any]:
    """A workspace of `n` deals made through core's import path, in chunks of CHUNK rows
    by the tenant's users in turn; then the bench fixture's access-log history."""
    import_s = 0.0
    with workspace.create(path) as ws:
        tenant_id, _ = users.create_tenant(ws, "Bench Health", "bench-health.example", ADMIN,
                                           "Dana", "Whitfield", PASSWORD)
        admin = auth.sign_in(ws, ADMIN, PASSWORD)
        people = [admin]
        for email, first, last in REPS:
            users.add_user(admin, email, first, last, UserRole.USER, PASSWORD)
            people.append(auth.sign_in(ws, email, PASSWORD))
        for i, start in enumerate(range(0, n, CHUNK)):
            rows = demo.demo_rows(min(CHUNK, n - start), seed=2026 + i)
            owners = [ADMIN, *(email for email, _, _ in REPS)]  # several owners per chunk
            for j, row in enumerate(rows):
                row["owner_email"] = owners[(start + j) % len(owners)]
            t0 = time.perf_counter()
            deal_import.import_deals(people[i % len(people)], rows)
            import_s += time.perf_counter() - t0
            del rows
            if n > CHUNK:
                log(f"  imported {start + min(CHUNK, n - start):,} of {n:,}")
        t0 = time.perf_counter()
        extra = bench_fixture_access_history(ws, tenant_id, [p.user_id for p in people])
        log(f"  bench fixture: {extra:,} access-log rows in {time.perf_counter() - t0:.0f} s")
    return {"import_s": import_s, "import_rate": n / import_s, "fixture_rows": extra}


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


# ---- measuring --------------------------------------------------------------------------

@dataclasses.dataclass
class Side:
    name: str
    ws: workspace.Workspace
    admin: frame.AuthSession
    model: Any = None  # the deals table's model (ui.deals_model.DealsModel), no view


def interleaved(sides: list[Side], reps: int, op: Callable[[Side, int], object]
                ) -> dict[str, list[float]]:
    """Run `op` `reps` times on each side, alternating, after one untimed warm-up each."""
    out: dict[str, list[float]] = {s.name: [] for s in sides}
    for s in sides:
        op(s, 0)
    for i in range(reps):
        for s in sides if i % 2 == 0 else sides[::-1]:
            out[s.name].append(timed(lambda s=s, i=i: op(s, i)))
    return out


def page_op(query_of: Callable[[int], DealQuery]) -> Callable[[Side, int], object]:
    """What the table does on a new query: the deals model's reload (its count and its
    first page, rendered), as the pane calls it."""
    def op(side: Side, i: int) -> object:
        side.model.set_query(query_of(i))
        return side.model.rows
    return op


def measure_queries(sides: list[Side], reps: int, phi_ids: list[str]) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from closeplan_desktop.ui.deals.model import DealsModel

    QApplication.instance() or QApplication(sys.argv[:1])
    for side in sides:
        side.model = DealsModel(lambda side=side: side.admin)
    res: dict[str, Any] = {}
    sorts = [(c, d) for c in SORT_COLUMNS for d in (True, False)]
    res["sort_change"] = interleaved(sides, reps, page_op(
        lambda i: DealQuery(sort=sorts[i % len(sorts)][0], descending=sorts[i % len(sorts)][1])))
    statuses: list[DealStatus | None] = [None, *DealStatus]
    res["filter_change"] = interleaved(sides, reps, page_op(
        lambda i: DealQuery(status=statuses[i % len(statuses)],
                            sort=SORT_COLUMNS[(i // len(statuses)) % len(SORT_COLUMNS)])))
    prefixes = [w[:k] for w in SEARCH_WORDS for k in range(1, len(w) + 1)]
    res["search_keystroke"] = interleaved(sides, max(reps, len(prefixes)), page_op(
        lambda i: DealQuery(search=prefixes[i % len(prefixes)])))
    res["pipeline"] = interleaved(sides, reps, lambda s, i: deal_list.pipeline(s.admin))
    res["reveal"] = interleaved(sides, reps, lambda s, i: deals.reveal_phi(
        s.admin, phi_ids[i % len(phi_ids)]))
    return res


def measure_owner(sides: list[Side], reps: int) -> dict[str, Any]:
    """Issue 15: "my deals" (one owner, each sort), the close-date filters and sort, and
    the forecast (the tenant's, one owner's, one month's), as the pane asks them."""
    from closeplan_desktop.core.domain.clock import local_today
    from closeplan_desktop.core.usecases import forecast, owners

    today = local_today()
    month, quarter = forecast.month_range(today), forecast.quarter_range(today)
    ids = [o.id for o in owners.owner_choices(sides[0].admin)]
    sorts = [(c, d) for c in SORT_COLUMNS for d in (True, False)]
    res: dict[str, Any] = {}
    res["my_deals"] = interleaved(sides, max(reps, len(sorts)), page_op(
        lambda i: DealQuery(owner_id=ids[i % len(ids)], sort=sorts[i % len(sorts)][0],
                            descending=sorts[i % len(sorts)][1])))
    closes = [DealQuery(close_from=month[0], close_to=month[1]),
              DealQuery(close_from=quarter[0], close_to=quarter[1], sort="value"),
              DealQuery(overdue=True), DealQuery(sort="expected_close_date"),
              DealQuery(sort="expected_close_date", descending=False),
              DealQuery(close_from=month[0], close_to=month[1], owner_id=ids[1])]
    res["close_filter"] = interleaved(sides, reps, page_op(lambda i: closes[i % len(closes)]))
    asks = [DealQuery(), DealQuery(owner_id=ids[1]), DealQuery(status=DealStatus.ACTIVE),
            DealQuery(close_from=month[0], close_to=month[1])]
    res["forecast"] = interleaved(sides, reps, lambda s, i: forecast.forecast(
        s.admin, asks[i % len(asks)]))
    return res


def measure_board(sides: list[Side], reps: int) -> dict[str, Any]:
    """The board (issue 15): its first screen (the four headers, then each column's first
    page, as BoardView.load does, in each sort) and scrolling a column (one fetchMore:
    the next page by its keyset cursor), columns in turn."""
    from PySide6.QtWidgets import QApplication

    from closeplan_desktop.core.usecases import board
    from closeplan_desktop.ui.deals.board_column import ColumnModel

    QApplication.instance() or QApplication(sys.argv[:1])
    sorts = [(c, d) for c in SORT_COLUMNS for d in (True, False)]
    columns = {s.name: {st: ColumnModel(st, lambda s=s: s.admin) for st in board.STATUSES}
               for s in sides}

    def first_screen(side: Side, i: int) -> object:
        query = DealQuery(sort=sorts[i % len(sorts)][0], descending=sorts[i % len(sorts)][1])
        for header in board.headers(side.admin, query):
            columns[side.name][header.status].load(query, header)
        return columns

    def scroll(side: Side, i: int) -> object:
        model = columns[side.name][board.STATUSES[i % len(board.STATUSES)]]
        if not model.canFetchMore():  # a small workspace's column scrolled to its end
            model.load(model.query, next(h for h in board.headers(side.admin, model.query)
                                         if h.status == model.status))
        model.fetchMore()
        return model.rows

    res: dict[str, Any] = {"board_first_screen": interleaved(sides, reps, first_screen)}
    for side in sides:  # every column on its first page in the default sort
        first_screen(side, 0)
    res["board_scroll"] = interleaved(sides, reps, scroll)
    return res


def measure_export(sides: list[Side], reps: int, work: Path) -> dict[str, Any]:
    """The CSV export of every deal (issue 15), without and with PHI (as the admin: every
    deal with PHI is decrypted and logged), in rows per second; `reps` runs per side,
    interleaved."""
    from closeplan_desktop.core.usecases import deal_export

    res: dict[str, Any] = {}
    for name, with_phi in (("export_rate", False), ("export_phi_rate", True)):
        rates: dict[str, list[float]] = {s.name: [] for s in sides}
        for i in range(reps):
            for side in sides if i % 2 == 0 else sides[::-1]:
                target = work / f"export-{side.name}.csv"
                t0 = time.perf_counter()
                done = deal_export.export_deals(side.admin, DealQuery(), target,
                                                with_phi=with_phi,
                                                reason="Benchmark" if with_phi else None)
                rates[side.name].append(done.rows / (time.perf_counter() - t0))
                target.unlink()
        res[name] = rates
    return res


def measure_widgets(sides: list[Side], reps: int) -> dict[str, Any]:
    """model data() per call and the repaint of a full page while scrolling, on a real
    DealsPane (offscreen)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from closeplan_desktop.ui.deals.model import DealsModel
    from closeplan_desktop.ui.deals.pane import DealsPane
    from closeplan_desktop.ui.signed_in import SignedIn

    app = QApplication.instance() or QApplication(sys.argv[:1])
    calls = {"n": 0}

    class Counting(DealsModel):
        def data(self, index: Any, role: int = 0) -> Any:
            calls["n"] += 1
            return super().data(index, role)

    data_us: dict[str, list[float]] = {}
    repaint: dict[str, list[float]] = {}
    for side in sides:
        pane = DealsPane(SignedIn(side.ws, side.admin))
        pane.resize(1280, 800)
        pane.show()
        app.processEvents()
        pane.refresh()
        app.processEvents()
        model = pane.model
        indexes = [model.index(r, c) for r in range(min(PAGE, model.rowCount()))
                   for c in range(model.columnCount())]
        # How many data() calls Qt's itemData() makes over one page (its role loop): the
        # same rows in a counting copy of the model; the timing below is the real model.
        counter = Counting(lambda: None)
        counter.rows = model.rows
        for idx in [counter.index(r, c) for r in range(len(indexes) // model.columnCount())
                    for c in range(model.columnCount())]:
            counter.itemData(idx)
        per_page = calls["n"]
        calls["n"] = 0
        samples = []
        for _ in range(max(3, reps // 5)):
            t0 = time.perf_counter()
            for idx in indexes:
                model.itemData(idx)
            samples.append((time.perf_counter() - t0) * 1e6 / per_page)
        data_us[side.name] = samples
        # Python-side cost alone, for the record.
        role = Qt.ItemDataRole.DisplayRole
        t0 = time.perf_counter()
        for _ in range(20):
            for idx in indexes:
                model.data(idx, role)
        data_us[side.name + "_python_display"] = [
            (time.perf_counter() - t0) * 1e6 / (20 * len(indexes))]
        table = pane.table
        sb = table.verticalScrollBar()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            sb.setValue(sb.value() + sb.pageStep())
            table.viewport().repaint()
            times.append((time.perf_counter() - t0) * 1000)
            app.processEvents()
        repaint[side.name] = times
        pane.close()
        pane.deleteLater()
        app.processEvents()
    return {"model_data": data_us, "repaint_scroll": repaint}


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def measure_gui(ws_path: Path, plain_db: Path, reps: int) -> dict[str, Any]:
    """Child processes: start to painted sign-in and start to ready (the real
    closeplan-desktop, with the documented CLOSEPLAN_BENCH_EXIT_ON_PAINT=ready hook),
    sign-in to first painted page (after the app's warm-up, whose time is kept too)."""
    exe = Path(sys.executable).parent / "closeplan-desktop"
    env = dict(child_env(), CLOSEPLAN_BENCH_EXIT_ON_PAINT="ready")
    child = str(HERE / "gui_child.py")
    sides: tuple[str, str] = ("encrypted", "plain")
    start: dict[str, list[float]] = {side: [] for side in sides}
    ready: dict[str, list[float]] = {side: [] for side in sides}
    signin: dict[str, list[float]] = {side: [] for side in sides}
    warm: dict[str, list[float]] = {side: [] for side in sides}
    commands = {"encrypted": [str(exe), "--workspace", str(ws_path)],
                "plain": [sys.executable, child, "start", str(ws_path), str(plain_db)]}
    for i in range(reps):
        for name in (sides if i % 2 == 0 else sides[::-1]):
            t0 = time.time()
            out = subprocess.run(commands[name], capture_output=True, text=True, env=env,
                                 timeout=120)
            times = dict(line.split()[1:3] for line in out.stdout.splitlines()
                         if line.startswith("closeplan-bench "))
            if set(times) != {"signin-painted", "ready"}:
                raise RuntimeError(f"start ({name}) printed no paint or ready time: "
                                   f"{out.stderr[-800:]}")
            start[name].append((float(times["signin-painted"]) - t0) * 1000)
            ready[name].append((float(times["ready"]) - t0) * 1000)
    for i in range(reps):
        for name in (sides if i % 2 == 0 else sides[::-1]):
            args = [sys.executable, child, "signin", str(ws_path)]
            if name == "plain":
                args.append(str(plain_db))
            out = subprocess.run(args, input=f"{ADMIN}\n{PASSWORD}\n", capture_output=True,
                                 text=True, env=child_env(), timeout=300)
            if out.returncode != 0:
                raise RuntimeError(f"signin ({name}) failed: {out.stderr[-800:]}")
            got = json.loads(out.stdout.strip().splitlines()[-1])
            signin[name].append(got["ms"])
            warm[name].append(got["warm_up_ms"])
    return {"start_to_signin": start, "start_to_ready": ready, "signin_to_page": signin,
            "warm_up": warm}


def measure_rss(ws_path: Path, plain_db: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("encrypted", "plain"):
        args = [sys.executable, str(HERE / "gui_child.py"), "rss", str(ws_path)]
        if name == "plain":
            args.append(str(plain_db))
        r = subprocess.run(args, input=f"{ADMIN}\n{PASSWORD}\n", capture_output=True, text=True,
                           env=child_env(), timeout=7200)
        if r.returncode != 0:
            raise RuntimeError(f"rss ({name}) failed: {r.stderr[-800:]}")
        out[name] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def profile_import(admin: frame.AuthSession, n: int, target: Path) -> None:
    """cProfile of one more import of CHUNK deals into the workspace, by internal time:
    what bounds the import rate at this size."""
    import cProfile
    import io
    import pstats

    rows = demo.demo_rows(CHUNK, seed=4242)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    deal_import.import_deals(admin, rows)
    prof.disable()
    took = time.perf_counter() - t0
    buf = io.StringIO()
    buf.write(f"import of {CHUNK:,} deals into the {n:,}-deal workspace, under cProfile: "
              f"{took:.1f} s ({CHUNK / took:,.0f} deals/s with the profiler's overhead)\n")
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    target.write_text(buf.getvalue())
    log(f"  wrote {target}")


def run_size(n: int, work: Path, reps: int, gui_reps: int,
             profile_dir: Path | None = None) -> dict[str, Any]:
    path = work / f"ws-{n}"
    plain_db = work / f"plain-{n}" / "closeplan.db"
    if path.exists():
        shutil.rmtree(path)
    shutil.rmtree(plain_db.parent, ignore_errors=True)
    plain_db.parent.mkdir(parents=True)
    log(f"{n:,} deals: building")
    built = build(path, n)
    log(f"  import: {built['import_rate']:,.0f} deals/s")
    export_plain(path, plain_db)
    sizes = {"encrypted": dir_size(path) / 1e6, "plain": dir_size(plain_db.parent) / 1e6}
    raw: dict[str, Any] = {}
    log("  GUI: start and sign-in")
    raw.update(measure_gui(path, plain_db, gui_reps))
    log("  peak RSS (scrolling end to end)")
    rss = measure_rss(path, plain_db)
    ws = workspace.open_workspace(path)
    pws = open_plain(path, plain_db)
    try:
        admin = auth.sign_in(ws, ADMIN, PASSWORD)
        sides = [Side("encrypted", ws, admin),
                 # Its own sign-in: the PHI keys are unlocked per workspace, in memory.
                 Side("plain", pws, auth.sign_in(pws, ADMIN, PASSWORD))]
        with ws.engine.connect() as conn:
            ids = [r[0] for r in conn.exec_driver_sql(
                "SELECT id FROM deals WHERE phi IS NOT NULL ORDER BY rowid")]
        phi_ids = random.Random(n).sample(ids, min(len(ids), max(reps, 50)))
        del ids
        log("  queries")
        raw.update(measure_queries(sides, reps, phi_ids))
        raw.update(measure_owner(sides, reps))
        raw.update(measure_board(sides, reps))
        log("  widgets")
        raw.update(measure_widgets(sides, reps))
        log("  verify and rotation")
        verify_rate, rotation_rate = {}, {}
        for side in sides:
            t0 = time.perf_counter()
            report = audit.verify(side.admin)
            assert report.ok, report.problem
            verify_rate[side.name] = report.rows_checked / (time.perf_counter() - t0)
        for side in sides:
            t0 = time.perf_counter()
            done = key_admin.rotate_phi(side.admin)
            rotation_rate[side.name] = done / (time.perf_counter() - t0)
        log("  export")
        exported = measure_export(sides, 2, work)
        if profile_dir is not None:
            profile_import(admin, n, profile_dir / f"profile-import-{n}.txt")
    finally:
        ws.close()
        pws.close()
    figures: dict[str, Any] = {}
    for name in ("start_to_signin", "start_to_ready", "signin_to_page", "warm_up", *QUERY_SET,
                 *OWNER_SET, *BOARD_SET, "model_data", "repaint_scroll"):
        enc, pl = stats(raw[name]["encrypted"]), stats(raw[name]["plain"])
        figures[name] = {"encrypted": enc, "plain": pl}
    figures["model_data"]["python_display_us"] = raw["model_data"]["encrypted_python_display"][0]
    figures["import_rate"] = {"encrypted": {"value": built["import_rate"]},
                              "plain": None, "note": "imports write the encrypted workspace "
                              "only; the baseline is a copy"}
    figures["rotation_rate"] = {"encrypted": {"value": rotation_rate["encrypted"]},
                                "plain": {"value": rotation_rate["plain"]}}
    figures["verify_rate"] = {"encrypted": {"value": verify_rate["encrypted"]},
                              "plain": {"value": verify_rate["plain"]}}
    for name, rates in exported.items():
        figures[name] = {side: {"value": statistics.median(r)} for side, r in rates.items()}
    figures["disk_size"] = {"encrypted": {"value": sizes["encrypted"]},
                            "plain": {"value": sizes["plain"]}}
    figures["peak_rss"] = {"encrypted": {"value": rss["encrypted"]["rss_mb"]},
                           "plain": {"value": rss["plain"]["rss_mb"]},
                           "scroll_s": rss["encrypted"]["scroll_s"],
                           "rows": rss["encrypted"]["rows"]}
    figures.update(measure_mapped_import(work, n))
    for name, fig in figures.items():
        fig["ratio"] = _ratio(name, fig)
    ratios = [figures[n]["ratio"] for n in QUERY_SET if figures[n]["ratio"]]
    overhead = statistics.geometric_mean(ratios) if ratios else None
    return {"deals": n, "access_log_rows": n + built["fixture_rows"],
            "figures": figures, "query_set_overhead": overhead}


def _headline(name: str, side: dict[str, float] | None) -> float | None:
    if not side:
        return None
    kind = FIGURES[name][4]
    if kind in ("rate", "value"):
        return side["value"]
    return side[kind if kind in side else "median"]


def _ratio(name: str, fig: dict[str, Any]) -> float | None:
    enc, pl = fig.get("encrypted"), fig.get("plain")
    if not enc or not pl:
        return None
    if "value" in enc:
        a, b = enc["value"], pl["value"]
        return (b / a if FIGURES[name][2] == "rate" else a / b) if a and b else None
    return enc["median"] / pl["median"] if pl["median"] else None


# ---- reporting --------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlcipher3

    conn = sqlcipher3.connect(":memory:")
    versions = conn.execute("SELECT sqlite_version()").fetchone()[0]
    cipher = conn.execute("PRAGMA cipher_version").fetchone()[0]
    conn.close()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "sqlite": versions, "sqlcipher": cipher, "platform": platform.platform()}


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    if unit in ("deals/s", "rows/s"):
        return f"{v:,.0f}"
    if unit == "us":
        return f"{v:.2f}"
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def table(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    head = "| operation | unit | target (1M) |"
    rule = "|---|---|---|"
    for s in sizes:
        head += f" {int(s['deals']):,}: median / p95 | ratio |"
        rule += "---|---|"
    lines = [head, rule]
    for name, (label, unit, kind, target, which) in FIGURES.items():
        tgt = "–" if target is None else (f"{which} ≥ {fmt(target, unit)}" if kind == "rate"
                                          else f"{which} ≤ {fmt(target, unit)}")
        row = f"| {label} | {unit} | {tgt} |"
        for s in sizes:
            fig = s["figures"][name]
            enc = fig["encrypted"]
            if "value" in enc:
                cell = fmt(enc["value"], unit)
            elif which == "mean":
                cell = f"{fmt(enc['mean'], unit)} (mean)"
            else:
                cell = f"{fmt(enc['median'], unit)} / {fmt(enc['p95'], unit)}"
            ratio = fig["ratio"]
            row += f" {cell} | {'–' if ratio is None else f'{ratio:.2f}x'} |"
        lines.append(row)
    row = "| encryption overhead, query set (geometric mean of the ratios) | x | ≤ 1.3x |"
    for s in sizes:
        over = s["query_set_overhead"]
        row += f" – | {'–' if over is None else f'{over:.2f}x'} |"
    lines.append(row)
    return "\n".join(lines)


def plot(result: dict[str, Any], target: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return False
    sizes = result["sizes"]
    xs = [s["deals"] for s in sizes]
    names = [n for n, f in FIGURES.items() if f[2] == "latency"]
    cols = 3
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        label, unit, _kind, target_v, which = FIGURES[name]
        for side, style in (("encrypted", "-"), ("plain", "--")):
            med = [s["figures"][name][side]["median"] for s in sizes]
            p95 = [s["figures"][name][side]["p95"] for s in sizes]
            ax.plot(xs, med, style, marker="o", label=f"{side} median")
            ax.plot(xs, p95, style, marker="^", alpha=0.6, label=f"{side} p95")
        if target_v is not None:
            ax.axhline(target_v, color="red", linewidth=0.8, linestyle=":",
                       label=f"target ({which})")
        ax.set_xscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("deals")
        ax.set_ylabel(unit)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"ClosePlan Desktop latency against workspace size ({result['date']})")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--repeat", type=int, default=60, help="repetitions of each query figure")
    p.add_argument("--gui-repeat", type=int, default=10,
                   help="child processes per GUI start/sign-in figure")
    p.add_argument("--work", help="folder for the workspaces (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the workspaces")
    p.add_argument("--profile-import", action="store_true",
                   help="at the end of each size, profile one more import (cProfile) into "
                        "OUT/profile-import-SIZE.txt")
    args = p.parse_args(argv)
    sizes = [int(x.replace("_", "")) for x in args.sizes.split(",") if x.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="closeplan-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    # The figures are at the default bcrypt cost (10), whatever the caller's policy.
    from closeplan_desktop.core.security import policy

    policy_file = work / "policy.json"
    policy_file.write_text(json.dumps({"bcrypt_cost": 10}))
    policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(policy_file)
    os.environ.pop(policy.ADDED_POLICY_VARIABLE, None)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "machine": machine(),
        "command": "bash tests/benchmarks/run.sh " + " ".join(argv or sys.argv[1:]),
        "repeat": args.repeat, "gui_repeat": args.gui_repeat,
        "figures": {k: {"label": v[0], "unit": v[1], "target": v[3], "target_stat": v[4]}
                    for k, v in FIGURES.items()},
        "sizes": []}
    try:
        for n in sizes:
            result["sizes"].append(run_size(n, work, args.repeat, args.gui_repeat,
                                            out if args.profile_import else None))
            (out / "bench.json").write_text(json.dumps(result, indent=1))
            if not args.keep:
                shutil.rmtree(work / f"ws-{n}", ignore_errors=True)
                shutil.rmtree(work / f"plain-{n}", ignore_errors=True)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    (out / "bench.md").write_text(table(result) + "\n")
    plot(result, out / "bench.png")
    log(f"wrote {out / 'bench.json'}, {out / 'bench.md'} and {out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
