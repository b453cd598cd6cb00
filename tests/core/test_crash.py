"""Crash consistency: writers killed with SIGKILL at random moments, hundreds of times.

`bash tests/run.sh tests/core/test_crash.py --crash-kills 2000` runs a longer campaign; the
summary is written to $CLOSEPLAN_CRASH_REPORT when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from crashlib import crash_loop, dump, summary
from support import ADMIN_EMAIL, ADMIN_PASSWORD, Env

from closeplan_desktop.core.tools import demo
from closeplan_desktop.core.usecases import deal_import


def test_sigkill_at_random_moments_loses_nothing(env: Env, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    kills = request.config.getoption("--crash-kills")
    deal_import.import_deals(env.admin, demo.demo_rows(400))
    env.ws.close()
    exports = tmp_path / "exports"
    exports.mkdir()
    outcome = crash_loop(env.path, ADMIN_EMAIL, ADMIN_PASSWORD, kills, seed=20261125,
                         export_dir=exports)
    report = os.environ.get("CLOSEPLAN_CRASH_REPORT")
    if report:
        dump(outcome, Path(report))
    print("crash campaign:", summary(outcome))
    assert outcome.kills == kills
    assert outcome.problems == []
    # The writers did real work between kills: at least one committed operation for every
    # two kills. Most kills are timed from the moment the child has opened the workspace,
    # so a loaded machine (slow opens) does not starve the campaign of writes.
    assert outcome.ops_committed > kills // 2
    assert outcome.ops_in_flight > kills // 2  # most kills cut an operation mid-way
