"""The benchmark harness (tests/benchmarks) at 10,000 deals with few repetitions, so that
it cannot rot. It checks only that every figure was produced: no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIGURES = ("start_to_signin", "start_to_ready", "signin_to_page", "warm_up", "sort_change",
           "filter_change", "search_keystroke", "pipeline", "reveal", "model_data",
           "repaint_scroll", "import_rate", "rotation_rate", "verify_rate", "disk_size", "peak_rss",
           "mapped_import_rate", "board_first_screen", "board_scroll")


@pytest.mark.slow
def test_benchmark_harness_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / "bench.py"),
                        "--sizes", "10000", "--repeat", "3", "--gui-repeat", "1",
                        "--out", str(out), "--work", str(tmp_path / "work"),
                        "--profile-import"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    data = json.loads((out / "bench.json").read_text())
    assert data["machine"]["nproc"] and data["date"] and data["command"]
    (size,) = data["sizes"]
    assert size["deals"] == 10_000 and size["access_log_rows"] == 50_000
    assert set(FIGURES) <= set(size["figures"]) and set(FIGURES) <= set(data["figures"])
    for name in FIGURES:
        fig = size["figures"][name]
        numbers = [v for side in ("encrypted", "plain") if fig.get(side)
                   for v in fig[side].values()]
        assert numbers and all(isinstance(v, int | float) and math.isfinite(v) and v >= 0
                               for v in numbers), name
        assert name == "import_rate" or fig["ratio"] > 0, name
    assert size["query_set_overhead"] > 0
    table = (out / "bench.md").read_text()
    assert all(data["figures"][name]["label"] in table for name in FIGURES)
    assert "median / p95" in r.stdout
    profile = (out / "profile-import-10000.txt").read_text()
    assert "import of 50,000 deals" in profile and "import_deals" in profile
    if importlib.util.find_spec("matplotlib"):
        assert (out / "bench.png").stat().st_size > 10_000
