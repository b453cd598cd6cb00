"""Crash injection: write in a forked child, SIGKILL it at a random moment, then check
that the workspace reopens whole.

The child prints a journal line before each operation ("B ...") and after its commit
("C ..."), flushed, to a pipe. The parent kills it after a random delay and then checks
the workspace against the journal: every committed change is there, the one in flight
is there whole or not at all, nothing is half-written.
"""

from __future__ import annotations

import csv
import json
import os
import random
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.security import crypto
from closeplan_desktop.core.security.keyring_store import phi_slot
from closeplan_desktop.core.store import audit_log, workspace
from closeplan_desktop.core.usecases import audit, auth, deal_import, deal_list, deals, key_admin

OPS = ("edit", "create", "import", "rotate_phi", "rotate_db", "export")
IMPORT_ROWS = 300


@dataclass
class Journal:
    begun: list[list[str]] = field(default_factory=list)
    committed: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def feed(self, text: str) -> None:
        for line in text.splitlines():
            parts = line.split("\t")
            if parts[0] == "B":
                self.begun.append(parts[1:])
            elif parts[0] == "C":
                self.committed.append(parts[1:])
            elif parts[0] == "E":
                self.errors.append(" ".join(parts[1:]))

    @property
    def in_flight(self) -> list[str] | None:
        """The last operation begun but not reported committed (it may or may not be)."""
        if len(self.begun) > len(self.committed):
            return self.begun[-1]
        return None


def child(path: Path, email: str, password: str, seed: int, out_fd: int,
          export_dir: Path) -> None:
    """Run random writes forever (until killed). Never returns."""
    rng = random.Random(seed)
    out = os.fdopen(out_fd, "w", buffering=1)

    def say(*parts: object) -> None:
        out.write("\t".join(str(p) for p in parts) + "\n")
        out.flush()

    ws = workspace.open_workspace(path)
    s = auth.sign_in(ws, email, password)
    say("R")  # open and signed in: the writes start
    n = 0
    while True:
        n += 1
        op = rng.choice(OPS)
        tag = f"{seed}-{n}"
        if op == "edit":
            # Imported rows keep their titles: the check counts them by title.
            ids = [d.id for d in deal_list.list_deals(s, limit=50)
                   if not d.title.startswith("Imported")]
            if not ids:
                continue
            deal_id = rng.choice(ids)
            value = f"{rng.randint(1, 10**9)}.{rng.randint(0, 99):02d}"
            say("B", "edit", deal_id, f"Edited {tag}", value)
            deals.update_deal(s, deal_id, title=f"Edited {tag}", value=value)
            say("C", "edit", deal_id, f"Edited {tag}", value)
        elif op == "create":
            value = f"{rng.randint(1, 10**6)}.{rng.randint(0, 99):02d}"
            say("B", "create", f"Created {tag}", value)
            d = deals.create_deal(s, f"Created {tag}", "ACTIVE", value, {"mrn": f"M-{tag}"})
            say("C", "create", f"Created {tag}", value, d.id)
        elif op == "import":
            rows = [{"title": f"Imported {tag} #{i}", "status": DealStatus.DRAFT,
                     "value": Decimal("1.00"), "phi": {"mrn": f"I-{tag}-{i}"} if i % 3 == 0
                     else None} for i in range(IMPORT_ROWS)]
            say("B", "import", f"Imported {tag} #")
            deal_import.import_deals(s, rows)
            say("C", "import", f"Imported {tag} #")
        elif op == "rotate_phi":
            say("B", "rotate_phi")
            key_admin.rotate_phi(s)
            say("C", "rotate_phi")
        elif op == "rotate_db":
            say("B", "rotate_db")
            key_admin.rotate_db(s)
            say("C", "rotate_db")
        elif op == "export":
            target = export_dir / f"audit-{tag}.csv"
            say("B", "export", str(target))
            audit.export(s, target, "csv")
            say("C", "export", str(target))


@dataclass
class Outcome:
    kills: int = 0
    ops_committed: int = 0
    ops_in_flight: int = 0
    rotations_resumed: int = 0
    problems: list[str] = field(default_factory=list)


def check(path: Path, email: str, password: str, journal: Journal, outcome: Outcome) -> None:
    """Reopen the workspace and compare it with the journal; record any problem."""
    ws = workspace.open_workspace(path)  # finishes an interrupted rekey or rotation
    try:
        with ws.engine.connect() as conn:
            ok = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            cipher = [r[0] for r in conn.exec_driver_sql("PRAGMA cipher_integrity_check")]
        if ok != ["ok"]:
            outcome.problems.append(f"integrity_check: {ok[:3]}")
        if cipher:
            outcome.problems.append(f"cipher_integrity_check: {cipher[:3]}")
        report = audit_log.verify_workspace(ws)
        if not report.ok:
            outcome.problems.append(f"audit chain: {report.problem}")
        s = auth.sign_in(ws, email, password)
        st = key_admin.status(s)
        if st.pending_rows:
            outcome.problems.append(f"{st.pending_rows} rows still under an old PHI key")
        _check_rows(ws, s.tenant_id, journal, outcome)
    finally:
        ws.close()


def _check_rows(ws: workspace.Workspace, tenant_id: str, journal: Journal,
                outcome: Outcome) -> None:
    with ws.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, title, value, phi, phi_key_version FROM "
                                    "deals").fetchall()
        created_logs = {r[0] for r in conn.exec_driver_sql(
            "SELECT deal_id FROM access_logs WHERE action='DEAL_CREATE'")}
    by_id = {r[0]: r for r in rows}
    titles: dict[str, int] = {}
    for deal_id, title, _value, phi, version in rows:
        prefix = title.split(" #")[0] + " #" if " #" in title else title
        titles[prefix] = titles.get(prefix, 0) + 1
        if deal_id not in created_logs:
            outcome.problems.append(f"deal {deal_id} has no DEAL_CREATE log row")
        if phi is not None:
            try:
                key = ws.keyring.require(phi_slot(tenant_id, version), "phi")
                crypto.decrypt_phi(key, tenant_id, deal_id, phi)
            except Exception as exc:
                outcome.problems.append(f"deal {deal_id} PHI does not decrypt: {exc}")
    last_edit: dict[str, tuple[str, str]] = {}
    for entry in journal.committed:
        if entry[0] == "edit":
            last_edit[entry[1]] = (entry[2], entry[3])
        elif entry[0] == "create" and entry[3] not in by_id:
            outcome.problems.append(f"committed create {entry[1]} is missing")
        elif entry[0] == "import" and titles.get(entry[1], 0) != IMPORT_ROWS:
            outcome.problems.append(f"committed import {entry[1]} has "
                                    f"{titles.get(entry[1], 0)} rows")
        elif entry[0] == "export":
            _check_export(Path(entry[1]), outcome, committed=True)
    flight = journal.in_flight
    for deal_id, (title, value) in last_edit.items():
        have = by_id.get(deal_id)
        allowed = {(title, value)}
        if flight and flight[0] == "edit" and flight[1] == deal_id:
            allowed.add((flight[2], flight[3]))
        if have is None or (have[1], f"{Decimal(have[2]).scaleb(-2):.2f}") not in allowed:
            outcome.problems.append(f"committed edit of {deal_id} lost")
    if flight:
        outcome.ops_in_flight += 1
        if flight[0] == "import" and titles.get(flight[1], 0) not in (0, IMPORT_ROWS):
            outcome.problems.append(f"half an import: {titles.get(flight[1])} rows")
        if flight[0] == "export":
            _check_export(Path(flight[1]), outcome, committed=False)
        if flight[0] == "rotate_phi":
            outcome.rotations_resumed += 1
    outcome.ops_committed += len(journal.committed)


def _check_export(path: Path, outcome: Outcome, committed: bool) -> None:
    if not path.exists():
        if committed:
            outcome.problems.append(f"committed export {path.name} is missing")
        return
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][0] != "kind" or any(len(r) != len(rows[0]) for r in rows):
        outcome.problems.append(f"export {path.name} is partial")
    leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    if committed and leftovers:
        outcome.problems.append(f"temporary export files left: {leftovers}")


OPEN_KILLS = 0.2
READY_TIMEOUT = 120.0


def _until_ready(fd: int, timeout: float) -> bytes:
    """What the child wrote up to and including its ready line (or until it died or the
    timeout passed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"R\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def crash_loop(path: Path, email: str, password: str, kills: int, seed: int,
               export_dir: Path, max_delay: float = 0.8,
               on_kill: Callable[[int, Outcome], None] | None = None) -> Outcome:
    """Fork a writer, kill it at a random moment, check; `kills` times."""
    rng = random.Random(seed)
    outcome = Outcome()
    for i in range(kills):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            try:
                child(path, email, password, seed * 100_003 + i, write_fd, export_dir)
            except BaseException as exc:  # report, then die like the kill would
                os.write(write_fd, f"E\t{type(exc).__name__}: {exc}\n".encode())
            os._exit(3)
        os.close(write_fd)
        # Most kills land among the writes: the delay starts once the child has opened
        # the workspace, so a loaded machine (a slow open) still sees writes cut. One in
        # five counts from the fork and may cut the open itself.
        head = b"" if rng.random() < OPEN_KILLS else _until_ready(read_fd, READY_TIMEOUT)
        time.sleep(rng.uniform(0.05, max_delay))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read_fd, "rb") as fh:
            text = (head + fh.read()).decode()
        journal = Journal()
        journal.feed(text)
        outcome.kills += 1
        before = len(outcome.problems)
        outcome.problems += [f"writer failed: {e}" for e in journal.errors]
        check(path, email, password, journal, outcome)
        if len(outcome.problems) > before and on_kill:
            on_kill(i, outcome)
    return outcome


def summary(outcome: Outcome) -> dict[str, Any]:
    return {"kills": outcome.kills, "operations_committed": outcome.ops_committed,
            "operations_cut_mid_way": outcome.ops_in_flight,
            "rotations_interrupted": outcome.rotations_resumed,
            "problems": outcome.problems}


def dump(outcome: Outcome, target: Path) -> None:
    target.write_text(json.dumps(summary(outcome), indent=2))
