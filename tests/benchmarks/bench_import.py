"""The mapped import's figure for bench.py (issue 15): a HubSpot-shaped export of up to
100,000 deals (owner by email, slashed close dates, fractional probabilities, "$12,345.67"
amounts, four PHI columns for about a third) read, mapped, checked row by row and imported
(rows/s, end to end), beside today's plain import (parse_import + import_deals) of the
same deals in ClosePlan's own columns. Each goes into a fresh workspace of its own, so
neither pays for the other's rows; both write the same deals, PHI, audit and outbox rows.
"""

from __future__ import annotations

import csv
import io
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.tools import demo
from closeplan_desktop.core.usecases import auth, deal_import, users
from closeplan_desktop.core.usecases.importing import check, layouts, mapping, source

MAX_ROWS = 100_000
ADMIN = "admin@import-bench.example"
PASSWORD = "Bench-Password-2026"
PHI_FIELDS = ("patient_name", "mrn", "date_of_birth", "diagnosis")
# HubSpot's stage ids for the four statuses (DRAFT has none: its own name is known).
STAGES = {DealStatus.DRAFT: "Draft", DealStatus.ACTIVE: "contractsent",
          DealStatus.CLOSED_WON: "closedwon", DealStatus.CLOSED_LOST: "closedlost"}


def _csv(header: list[str], rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def exports(n: int) -> tuple[bytes, bytes]:
    """The same `n` demo deals as ClosePlan's own CSV and as a HubSpot-shaped export."""
    deals = demo.demo_rows(n, seed=1515)
    days = [date(2026, 1, 1) + timedelta(days=i % 365) for i in range(n)]
    plain = _csv(["title", "status", "value", "owner_email", "expected_close_date",
                  "probability", *(f"phi_{f}" for f in PHI_FIELDS)],
                 [[d["title"], d["status"].value, str(d["value"]), ADMIN, day.isoformat(),
                   str(i % 101), *((d["phi"] or {}).get(f, "") for f in PHI_FIELDS)]
                  for i, (d, day) in enumerate(zip(deals, days, strict=True))])
    hubspot = _csv(["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date",
                    "Deal owner", "Deal probability", "Pipeline", "Patient name", "MRN",
                    "Date of birth", "Diagnosis"],
                   [[str(9000 + i), d["title"], STAGES[d["status"]], f"${d['value']:,}",
                     f"{day:%m/%d/%Y}", ADMIN, f"{(i % 101) / 100}", "Sales Pipeline",
                     *((d["phi"] or {}).get(f, "") for f in PHI_FIELDS)]
                    for i, (d, day) in enumerate(zip(deals, days, strict=True))])
    return plain, hubspot


def _fresh(path: Path) -> tuple[workspace.Workspace, Any]:
    shutil.rmtree(path, ignore_errors=True)
    ws = workspace.create(path)
    users.create_tenant(ws, "Import Bench", "import-bench.example", ADMIN, "Ivy", "Bench",
                        PASSWORD)
    return ws, auth.sign_in(ws, ADMIN, PASSWORD)


def _plain_import(path: Path, data: bytes) -> float:
    ws, admin = _fresh(path)
    try:
        t0 = time.perf_counter()
        count = deal_import.import_deals(admin, deal_import.parse_import(data))
        return count / (time.perf_counter() - t0)
    finally:
        ws.close()
        shutil.rmtree(path, ignore_errors=True)


def _mapped_import(path: Path, data: bytes) -> tuple[float, dict[str, float]]:
    ws, admin = _fresh(path)
    try:
        t0 = time.perf_counter()
        table = source.read(data)
        plan = layouts.plan_for(admin, table.header)
        for name in ("Patient name", "MRN", "Date of birth", "Diagnosis"):
            plan.columns[name] = mapping.phi_target(name)
        plan.stages = mapping.propose_stages(
            [v.value for v in check.stage_values(table, plan)], plan.stages)
        t1 = time.perf_counter()
        checked = check.check(admin, table, plan)
        assert checked.ok, checked.report()
        t2 = time.perf_counter()
        count = check.import_checked(admin, table, plan, checked)
        t3 = time.perf_counter()
        return count / (t3 - t0), {"read_s": t1 - t0, "check_s": t2 - t1,
                                   "import_s": t3 - t2}
    finally:
        ws.close()
        shutil.rmtree(path, ignore_errors=True)


def measure_mapped_import(work: Path, n: int, reps: int = 1) -> dict[str, Any]:
    """{"mapped_import_rate": figure}: rows/s of the mapped import (HubSpot-shaped, read +
    map + check + import) beside today's plain import of the same rows; the ratio is
    plain / mapped (what the mapping step costs)."""
    rows = min(n, MAX_ROWS)
    plain_data, hubspot_data = exports(rows)
    mapped, plain, parts = [], [], []
    for i in range(reps):
        rate, split = _mapped_import(work / f"import-mapped-{i}", hubspot_data)
        mapped.append(rate)
        parts.append(split)
        plain.append(_plain_import(work / f"import-plain-{i}", plain_data))
    return {"mapped_import_rate": {
        "encrypted": {"value": statistics.median(mapped)},
        "plain": {"value": statistics.median(plain)},
        "samples": {"mapped": mapped, "plain": plain}, "rows": rows, "split_s": parts[-1],
        "note": "'plain' here is today's import of the same rows in ClosePlan's own columns "
                "(both into an encrypted workspace)"}}
