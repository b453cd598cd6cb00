"""Issue 15's list figures alone at N deals (the whole harness at a million takes long):
tests/benchmarks/bench.py's own build (without the access-log fixture, which no list
reads), export_plain, then the sort change (the reference), measure_owner (my deals,
close-date filter and sort, forecast) and measure_board, each interleaved with the
unencrypted copy; median and p95 printed, and written to DIR/../lists_N.json.

    dbus-run-session -- packaging/with-keyring.sh .venv/bin/python \
        tests/benchmarks/bench_lists.py 1000000 /tmp/lists-work [REPEAT]
"""
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench
from plain import export_plain, open_plain
from PySide6.QtWidgets import QApplication

from closeplan_desktop.core.security import policy
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth
from closeplan_desktop.core.usecases.deal_list import SORT_COLUMNS, DealQuery
from closeplan_desktop.ui.deals.model import DealsModel

n = int(sys.argv[1])
work = Path(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 40
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
(work / "policy.json").write_text(json.dumps({"bcrypt_cost": 10}))
policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(work / "policy.json")
os.environ.pop(policy.ADDED_POLICY_VARIABLE, None)
bench.bench_fixture_access_history = lambda *a: 0
path, plain_db = work / "ws", work / "plain" / "closeplan.db"
plain_db.parent.mkdir(parents=True)
bench.log(f"{n:,} deals: building")
built = bench.build(path, n)
bench.log(f"  import: {built['import_rate']:,.0f} deals/s")
export_plain(path, plain_db)
ws = workspace.open_workspace(path)
pws = open_plain(path, plain_db)
sides = [bench.Side("encrypted", ws, auth.sign_in(ws, bench.ADMIN, bench.PASSWORD)),
         bench.Side("plain", pws, auth.sign_in(pws, bench.ADMIN, bench.PASSWORD))]
bench.log("  queries")
raw: dict[str, Any] = {}
QApplication.instance() or QApplication(sys.argv[:1])
for side in sides:
    side.model = DealsModel(lambda side=side: side.admin)
sorts = [(c, d) for c in SORT_COLUMNS for d in (True, False)]
raw["sort_change"] = bench.interleaved(sides, reps, bench.page_op(
    lambda i: DealQuery(sort=sorts[i % len(sorts)][0], descending=sorts[i % len(sorts)][1])))
bench.log("  owner")
raw.update(bench.measure_owner(sides, reps))
bench.log("  board")
raw.update(bench.measure_board(sides, reps))
out: dict[str, Any] = {}
for name in ("sort_change", *bench.OWNER_SET, *bench.BOARD_SET):
    out[name] = {side: bench.stats(raw[name][side]) for side in ("encrypted", "plain")}
    e, p = out[name]["encrypted"], out[name]["plain"]
    print(f"{name}: encrypted median {e['median']:.1f} ms p95 {e['p95']:.1f} ms; "
          f"plain median {p['median']:.1f} ms p95 {p['p95']:.1f} ms; "
          f"ratio p95 {e['p95'] / p['p95']:.2f}x", flush=True)
(work.parent / f"lists_{n}.json").write_text(json.dumps(out, indent=1))
ws.close()
pws.close()
shutil.rmtree(work, ignore_errors=True)
