"""The demo workspace: a realistic tenant of healthcare sales, built through the app's own
use cases (sign-in, user management, CSV-shaped import, reveals)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain.clock import local_today
from ..domain.enums import DealStatus, UserRole
from ..domain.paths import demo_workspace
from ..domain.progress import Progress, no_progress
from ..store import layout, workspace
from ..usecases import auth, deal_import, deal_list, deals, users

DEMO_TENANT = "Riverside Health Partners"
DEMO_DOMAIN = "riverside-health.example"
DEMO_ADMIN = "admin@riverside-health.example"
# Printed for people trying the app; it guards demo data only.
DEMO_PASSWORD = "Riverside-Demo-2026"  # noqa: S105

DEMO_USERS = (
    ("maria.lopez@riverside-health.example", "Maria", "Lopez", UserRole.USER),
    ("james.chen@riverside-health.example", "James", "Chen", UserRole.USER),
    ("priya.patel@riverside-health.example", "Priya", "Patel", UserRole.USER),
)

PRODUCTS = (
    "MRI scanner fleet upgrade", "Infusion pump replacement", "EHR integration services",
    "Telehealth platform licence", "Surgical robotics service contract", "PACS imaging archive",
    "Sterilisation equipment refresh", "Patient monitoring system", "Lab automation line",
    "Nurse call system", "Pharmacy dispensing cabinets", "Dialysis unit expansion",
    "CT scanner lease", "Cardiology cath lab fit-out", "Remote patient monitoring pilot",
    "Ultrasound carts", "Oncology treatment planning software", "Ventilator service plan",
    "Hospital bed replacement", "Cybersecurity managed services",
)
FACILITIES = (
    "St. Mary's Medical Center", "Riverside Community Hospital", "Mercy Regional Health",
    "Lakeview Children's Hospital", "Northgate Cancer Institute", "Valley Orthopedic Clinic",
    "Harbor Heart Center", "Summit Rehabilitation Hospital", "Pinecrest Family Practice",
    "Eastside Dialysis Center", "Metro General Hospital", "Oak Hill Surgical Center",
    "Bayview Women's Health", "Central Valley VA Clinic", "Cedar Ridge Behavioral Health",
)
FIRST = ("Alice", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "Joseph", "Nancy",
         "Thomas", "Grace", "Omar", "Mei", "Luis", "Fatima", "Ivan", "Aisha", "Noah")
LAST = ("Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Nguyen", "Kim", "Okafor", "Schmidt", "Rossi", "Haddad", "Kowalski", "Tanaka")
DIAGNOSES = ("E11.9 Type 2 diabetes mellitus", "I10 Essential hypertension",
             "J44.9 COPD, unspecified", "N18.6 End stage renal disease",
             "C50.911 Malignant neoplasm of right breast", "I48.91 Atrial fibrillation",
             "M17.11 Primary osteoarthritis, right knee", "F32.9 Major depressive disorder")
STATUS_WEIGHTS = ((DealStatus.DRAFT, 15), (DealStatus.ACTIVE, 45), (DealStatus.CLOSED_WON, 25),
                  (DealStatus.CLOSED_LOST, 15))


@dataclass(frozen=True)
class DemoInfo:
    path: Path
    admin_email: str
    password: str
    deals: int
    created: bool


def demo_rows(n: int, seed: int = 2026, phi_share: float = 1 / 3,
              today: date | None = None) -> list[dict[str, Any]]:
    """`n` realistic deal rows (about a third with PHI), deterministic for a seed and
    day: open deals expected to close from two months ago (overdue) to nine months
    ahead, closed ones in the past year; one in five with its own probability."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    # Close dates and probabilities draw from their own generator: the rows' other
    # values stay those of earlier versions.
    plan = random.Random(seed + 1)  # noqa: S311 - demo data, not security
    day = today or local_today()
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    rows = []
    for i in range(n):
        title = f"{rng.choice(PRODUCTS)} – {rng.choice(FACILITIES)}"
        if i % 7 == 0:
            title += f" (phase {rng.randint(2, 4)})"
        cents = int(rng.lognormvariate(11.5, 1.1) * 100)
        value = Decimal(min(cents, 2_500_000_000)).scaleb(-2)
        phi = None
        if rng.random() < phi_share:
            phi = {
                "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "mrn": f"MRN-{rng.randint(100000, 999999)}",
                "date_of_birth": f"{rng.randint(1935, 2015)}-{rng.randint(1, 12):02d}-"
                                 f"{rng.randint(1, 28):02d}",
                "diagnosis": rng.choice(DIAGNOSES),
            }
        status = rng.choices(statuses, weights)[0]
        is_open = status in (DealStatus.DRAFT, DealStatus.ACTIVE)
        offset = plan.randint(-60, 270) if is_open else plan.randint(-365, -1)
        rows.append({"title": title, "status": status,
                     "value": value.quantize(Decimal("0.01")), "phi": phi,
                     "expected_close_date": None if plan.random() < 0.1 else
                     day + timedelta(days=offset),
                     "probability": plan.choice((20, 30, 40, 60, 70, 80, 90))
                     if is_open and plan.random() < 0.2 else None})
    return rows


def build(path: Path | None = None, n_deals: int = 3000,
          progress: Progress = no_progress) -> DemoInfo:
    """Create the demo workspace (or report the existing one)."""
    path = path or workspace_path()
    if layout.exists(path):
        with workspace.open_workspace(path) as ws:
            s = auth.sign_in(ws, DEMO_ADMIN, DEMO_PASSWORD)
            count = deal_list.count_deals(s)
        return DemoInfo(path, DEMO_ADMIN, DEMO_PASSWORD, count, created=False)
    with workspace.create(path) as ws:
        users.create_tenant(ws, DEMO_TENANT, DEMO_DOMAIN, DEMO_ADMIN, "Dana", "Whitfield",
                            DEMO_PASSWORD)
        admin = auth.sign_in(ws, DEMO_ADMIN, DEMO_PASSWORD)
        people = [admin]
        for email, first, last, role in DEMO_USERS:
            users.add_user(admin, email, first, last, role, DEMO_PASSWORD)
            people.append(auth.sign_in(ws, email, DEMO_PASSWORD))
        rows = demo_rows(n_deals)
        # Small batches in turn, so that every list shows deals of several owners.
        batch = 50
        for done in range(0, len(rows), batch):
            person = people[(done // batch) % len(people)]

            def step(d: int, _t: int | None, base: int = done) -> None:
                progress(base + d, len(rows))

            deal_import.import_deals(person, rows[done:done + batch], step)
        # A little history for the audit pane: own reveals and one break-glass.
        rep = people[1]
        listed = deal_list.list_deals(rep, limit=1000)
        for d in [d for d in listed if d.has_phi and d.created_by_id == rep.user_id][:3]:
            deals.reveal_phi(rep, d.id)
        other = [d for d in listed if d.has_phi and d.created_by_id != rep.user_id][:1]
        for d in other:
            deals.reveal_phi(rep, d.id, reason="Patient called about a delivery; chart check")
        count = deal_list.count_deals(admin)
    return DemoInfo(path, DEMO_ADMIN, DEMO_PASSWORD, count, created=True)


def workspace_path() -> Path:
    return demo_workspace()
