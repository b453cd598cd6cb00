"""The load benchmark (tests/benchmarks/bench_load.py) with tiny bounds, so that it cannot
rot: its own cluster and API server on 127.0.0.1, devices that push and pull, stopped by
their bounds. It checks that every figure was produced and that the devices pulled; no
timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_benchmark_produces_every_figure(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_load.py"),
                        "--devices", "4", "--tenants", "2", "--seconds", "2", "--batch", "10",
                        "--max-batches", "3", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    data = json.loads((tmp_path / "bench-load.json").read_text())
    devices, baseline = data["devices"], data["baseline"]
    for side in (devices, baseline):
        assert side["mutations"] > 0 and side["mutations"] % 10 == 0, side
        assert all(math.isfinite(v) and v >= 0 for v in side["push_ms"].values()), side
    # Every device pulled after each push (its own rows at least came back).
    assert devices["pulled_changes"] > 0, devices
    assert devices["pull_ms"]["n"] >= 4 and data["rate_ratio"] > 0
    assert "mutations/s in all" in (tmp_path / "bench-load.md").read_text()
