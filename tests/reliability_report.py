"""The figures of README "Reliability and security", measured afresh.

    bash tests/run.sh -q tests/core/test_crash.py tests/core/test_faults.py \
        tests/core/test_properties.py tests/core/usecases/test_isolation.py \
        tests/core/test_leaks.py tests/core/usecases/test_signin_abuse.py \
        --crash-kills 1000        # with CLOSEPLAN_CRASH_REPORT / CLOSEPLAN_PROPERTY_REPORT set
    .venv/bin/python tests/reliability_report.py     # runs all of it and prints the table
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sign_in_timing(samples: int = 25) -> dict[str, float]:
    """Median time of a failed sign-in (bcrypt cost 10) for a known and an unknown email."""
    from closeplan_desktop.core.security import policy

    policy.SYSTEM_POLICY_OVERRIDE = policy.SystemPolicyOverride(
        Path(tempfile.mkdtemp()) / "none.json")
    os.environ.pop(policy.ADDED_POLICY_VARIABLE, None)
    from closeplan_desktop.core.domain.errors import AuthError
    from closeplan_desktop.core.store import workspace
    from closeplan_desktop.core.usecases import auth, users

    path = Path(tempfile.mkdtemp()) / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Timing", None, "known@timing.example", "K", "N",
                            "the known password")
        out: dict[str, list[float]] = {"known": [], "unknown": []}
        for i in range(samples * 2):
            kind = "known" if i % 2 else "unknown"
            email = f"{kind}@timing.example"
            t = time.perf_counter()
            try:
                auth.sign_in(ws, email, f"wrong password {i}")
            except AuthError:
                pass
            out[kind].append((time.perf_counter() - t) * 1000)
            # Keep below the lockout threshold.
            with ws.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM login_throttle")
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    if not os.environ.get("CLOSEPLAN_REPORT_INNER"):
        env = dict(os.environ, CLOSEPLAN_REPORT_INNER="1", QT_QPA_PLATFORM="offscreen")
        sys.exit(subprocess.call(["dbus-run-session", "--",
                                  str(ROOT / "packaging/with-keyring.sh"), sys.executable,
                                  __file__, *sys.argv[1:]], env=env))
    kills = sys.argv[1] if len(sys.argv) > 1 else "1000"
    tmp = Path(tempfile.mkdtemp())
    env = dict(os.environ, CLOSEPLAN_CRASH_REPORT=str(tmp / "crash.json"),
               CLOSEPLAN_PROPERTY_REPORT=str(tmp / "props.json"))
    t = time.time()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/core/test_crash.py", "tests/core/test_faults.py",
                            "tests/core/test_properties.py",
                            "tests/core/usecases/test_isolation.py",
                            "tests/core/test_leaks.py",
                            "tests/core/usecases/test_signin_abuse.py",
                            "tests/core/store/test_workspace.py",
                            "tests/core/security/test_hardening.py",
                            "--crash-kills", kills], cwd=ROOT, env=env)
    report = {"pytest_exit": code, "minutes": round((time.time() - t) / 60, 1),
              "crash": json.loads((tmp / "crash.json").read_text()),
              "bad_input": json.loads((tmp / "props.json").read_text()),
              "sign_in_ms_median_cost10": sign_in_timing()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
