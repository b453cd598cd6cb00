"""The push benchmark (tests/benchmarks/bench_push.py) with tiny bounds, so that it cannot
rot: it starts its own cluster and API server on 127.0.0.1 and stops them. It checks only
that every figure was produced; no timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_push_benchmark_produces_every_figure(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_push.py"),
                        "--threads", "1,2", "--seconds", "1", "--batch", "20",
                        "--max-batches", "3", "--http", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    data = json.loads((tmp_path / "bench-push.json").read_text())
    assert [run["threads"] for run in data["runs"]] == [1, 2]
    for run in data["runs"]:
        for side in ("baseline", "floor", "service", "http"):
            fig = run[side]
            assert fig["mutations"] > 0 and fig["mutations"] % 20 == 0, (side, fig)
            numbers = [fig["mutations_per_s"], *fig["batch_ms"].values()]
            assert all(isinstance(v, int | float) and math.isfinite(v) and v >= 0
                       for v in numbers), (side, fig)
        assert run["service"]["rate_ratio"] > 0 and run["http"]["p95_ratio"] > 0
        assert run["service"]["floor_ratio"] > 0
    table = (tmp_path / "bench-push.md").read_text()
    assert "| 2 | http |" in table and "| 1 | floor |" in table
    assert "rate vs baseline" in r.stdout and "rate vs floor" in r.stdout
