"""The server sync benchmark (tests/benchmarks/sync_bench.py) at 3,000 deals with few
repetitions, so that it cannot rot. It checks only that every figure was produced: no
timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("pull_page", "bootstrap_rate", "bootstrap_http_rate", "line_rate",
           "line_rate_0010", "live_latency", "decrypt_phi", "decrypt_phi_0003",
           "decrypt_phi_row_chain", "bootstrap_rate_copy",
           "rls_pull_page", "rls_first_page", "rls_checkpoint", "rls_stream")


def numbers(fig: dict[str, object]) -> list[float]:
    out: list[float] = []
    for v in fig.values():
        if isinstance(v, dict):
            out += numbers(v)
        elif isinstance(v, int | float):
            out.append(float(v))
    return out


@pytest.mark.slow
def test_sync_benchmark_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / "sync_bench.py"),
                        "--deals", "3000", "--pages", "5", "--bootstraps", "1", "--live", "3",
                        "--repeat", "2", "--decrypts", "3", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    data = json.loads((out / "sync_bench.json").read_text())
    assert data["deals"] == 3000 and data["machine"]["nproc"]
    assert set(FIGURES) <= set(data["figures"])
    for name in FIGURES:
        values = numbers(data["figures"][name])
        assert values and all(math.isfinite(v) and v >= 0 for v in values), name
    assert data["figures"]["live_latency"]["n"] == 3  # every change was seen
    assert data["rls_overhead"] > 0
    assert "RLS overhead" in (out / "sync_bench.md").read_text()
