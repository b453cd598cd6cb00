"""Check every row of a mapped export before anything is written, then import through
`deal_import` (one transaction, its audit and outbox rows, notes as activities).

The check reads every row with the plan, resolves owners by email among the tenant's
active users and stages through the value mapping, and groups what is wrong by problem,
each with all its line numbers ("Owner 'x@...' is not an active user: lines 3, 9"). The
import refuses to start while a problem remains, so nothing is written unless every row
is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ...domain import validation
from ...domain.errors import ValidationError
from ...domain.progress import CancelToken, Progress, no_progress
from ...store.models import User
from .. import deal_import
from ..frame import AuthSession, actor, run
from . import cells, layouts
from .mapping import (
    CLOSE_DATE,
    NOTE,
    OWNER,
    PROBABILITY,
    STATUS,
    TITLE,
    VALUE,
    Plan,
    plan_problems,
    stage_key,
)
from .source import SourceTable

# Targets the mapping reads but deal_import cannot store (none since the deal owner work
# added owner_email, expected_close_date and probability to it): a plan that maps one is
# refused with "not supported yet".
UNSUPPORTED: tuple[str, ...] = tuple(t for t in (OWNER, CLOSE_DATE, PROBABILITY)
                                     if t not in getattr(deal_import, "IMPORT_OPTIONAL", ()))
MAX_LINES_SHOWN = 50
CHECK_BATCH = 5000


@dataclass(frozen=True)
class Problem:
    """One kind of problem and every line that has it."""

    message: str
    lines: tuple[int, ...] = ()

    def text(self) -> str:
        """The problem as the check page and the CLI show it."""
        if not self.lines:
            return self.message
        shown = ", ".join(str(n) for n in self.lines[:MAX_LINES_SHOWN])
        more = len(self.lines) - MAX_LINES_SHOWN
        if more > 0:
            shown += f" and {more:,} more"
        return f"{'Line' if len(self.lines) == 1 else 'Lines'} {shown}: {self.message}"


@dataclass(frozen=True)
class StageValue:
    """A distinct stage value of the file: how many rows have it, and the first line."""

    value: str
    count: int
    first_line: int


@dataclass
class Checked:
    """The outcome of a check: the rows in `deal_import`'s shape when every row is
    valid, the problems (grouped) otherwise, and notes that block nothing."""

    total: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        """Every problem (then every note), one a line: what the check page copies."""
        if self.ok:
            lines = [f"{self.total:,} deal{'s' if self.total != 1 else ''} ready to import."]
        else:
            lines = [p.text() for p in self.problems]
        return "\n".join(lines + [n.text() for n in self.notes])


def stage_values(table: SourceTable, plan: Plan) -> list[StageValue]:
    """The distinct stage values of the file, most frequent first."""
    indexes = [table.column(c) for c in plan.columns_for(STATUS)]
    if not indexes:
        return []
    counts: dict[str, list[int]] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        entry = counts.setdefault(stage_key(row, indexes), [0, line])
        entry[0] += 1
    return sorted((StageValue(v, n, first) for v, (n, first) in counts.items()),
                  key=lambda s: (-s.count, s.value.casefold()))


_TWO_USERS = ""  # a full name two active users share: the email must say which


def _owners(session: AuthSession) -> dict[str, str]:
    """Email, or full name ("Maria Lopez", as HubSpot and Pipedrive export owners), as
    typed in any case -> email as stored, of the tenant's active users; a name two of them
    share maps to _TWO_USERS."""
    with run(session, write=False) as s:
        actor(s, session)
        found = s.execute(select(User.email, User.first_name, User.last_name).where(
            User.tenant_id == session.tenant_id, User.deactivated_at.is_(None))).all()
    by_name: dict[str, str] = {}
    for email, first, last in found:
        name = " ".join(f"{first} {last}".split()).casefold()
        by_name[name] = _TWO_USERS if name in by_name else email
    return {**by_name, **{email.casefold(): email for email, _, _ in found}}


class _Collector:
    def __init__(self) -> None:
        self.groups: dict[str, list[int]] = {}

    def add(self, message: str, line: int) -> None:
        self.groups.setdefault(message, []).append(line)

    def problems(self) -> list[Problem]:
        return [Problem(m, tuple(lines)) for m, lines in
                sorted(self.groups.items(), key=lambda item: item[1][0])]


def check(session: AuthSession, table: SourceTable, plan: Plan,
          progress: Progress = no_progress, cancel: CancelToken | None = None) -> Checked:
    """Check every row of `table` under `plan`; nothing is written."""
    total = len(table.rows)
    plan_errors = plan_problems(plan, UNSUPPORTED)
    if plan_errors:
        return Checked(total, problems=[Problem(m) for m in plan_errors])
    owners = _owners(session) if plan.columns_for(OWNER) else {}
    reader = _RowReader(table, plan, owners)
    if reader.order_error:
        return Checked(total, problems=[Problem(reader.order_error)])
    problems, notes = _Collector(), _Collector()
    rows: list[dict[str, Any]] = []
    progress(0, total)
    for start in range(0, total, CHECK_BATCH):
        if cancel:
            cancel.check()
        for i in range(start, min(start + CHECK_BATCH, total)):
            line = table.lines[i]
            row = reader.read(table.rows[i], line, problems.add, notes.add)
            if row is not None and not problems.groups:
                rows.append(row)
        progress(min(start + CHECK_BATCH, total), total)
    found = problems.problems()
    return Checked(total, [] if found else rows, found, notes.problems())


Report = Callable[[str, int], None]


class _RowReader:
    """Reads one row under a plan into `deal_import`'s shape, reporting what is wrong."""

    def __init__(self, table: SourceTable, plan: Plan, owners: dict[str, str]) -> None:
        col = table.column
        self.plan, self.owners = plan, owners
        self.title = col(plan.columns_for(TITLE)[0])
        self.value = col(plan.columns_for(VALUE)[0])
        self.status = [col(c) for c in plan.columns_for(STATUS)]
        self.notes = [(c, col(c)) for c in plan.columns_for(NOTE)]
        self.phi = [(f, col(c)) for c, f in plan.phi_columns().items()]
        self.owner = [col(c) for c in plan.columns_for(OWNER)]
        self.close = [col(c) for c in plan.columns_for(CLOSE_DATE)]
        self.probability = [col(c) for c in plan.columns_for(PROBABILITY)]
        self.order = cells.MONTH_FIRST
        self.order_error = ""
        if self.close:
            try:
                self.order = cells.slash_order(r[self.close[0]] for r in table.rows)
            except ValidationError as exc:
                self.order_error = str(exc)
        self.fractions = bool(self.probability) and cells.fractions(
            r[self.probability[0]] for r in table.rows)

    def read(self, cells_: list[str], line: int, problem: Report, note: Report
             ) -> dict[str, Any] | None:
        ok = True

        def attempt(fn: Callable[[], Any]) -> Any:
            nonlocal ok
            try:
                return fn()
            except ValidationError as exc:
                ok = False
                problem(str(exc), line)
                return None

        row: dict[str, Any] = {"title": attempt(lambda: validation.title(cells_[self.title]))}
        stage = stage_key(cells_, self.status)
        status = self.plan.stages.get(stage)
        if status is None:
            ok = False
            problem(f"Stage '{stage[:60]}' is not mapped to a status; choose one for it.",
                    line)
        row["status"] = status.value if status is not None else None
        amount = attempt(lambda: cells.amount(cells_[self.value]))
        if amount is not None:
            row["value"], empty = amount
            if empty:
                note("No amount: imported as 0.00.", line)
        row["phi"] = attempt(lambda: validation.phi(
            {f: cells_[i] for f, i in self.phi if cells_[i].strip()} or None))
        row["note"] = attempt(lambda: self._note(cells_))
        if self.owner:
            row["owner_email"] = attempt(lambda: self._owner(cells_[self.owner[0]]))
        if self.close:
            day = attempt(lambda: cells.close_date(cells_[self.close[0]], self.order))
            row["expected_close_date"] = day
        if self.probability:
            row["probability"] = attempt(lambda: cells.probability(
                cells_[self.probability[0]], self.fractions))
        return row if ok else None

    def _note(self, cells_: list[str]) -> str | None:
        parts = [(name, cells_[i].strip()) for name, i in self.notes if cells_[i].strip()]
        if not parts:
            return None
        text = parts[0][1] if len(self.notes) == 1 else "\n".join(
            f"{name}: {value}" for name, value in parts)
        return validation.activity_body(text)

    def _owner(self, text: str) -> str | None:
        named = " ".join(text.split())
        if not named:
            return None  # the importer owns it
        email = self.owners.get(named.casefold())
        if email is None:
            raise ValidationError(f"Owner '{named[:80]}' is not an active user of this "
                                  "organisation (by email or full name); add them under "
                                  "Users, or map the column to Ignore.")
        if email == _TWO_USERS:
            raise ValidationError(f"Owner '{named[:80]}' is the name of two active users; "
                                  "put their email in the file instead.")
        return email


def import_checked(session: AuthSession, table: SourceTable, plan: Plan, checked: Checked,
                   progress: Progress = no_progress, cancel: CancelToken | None = None) -> int:
    """Import the rows of a clean check through `deal_import` (all or nothing), then
    remember the plan for this file layout."""
    if not checked.ok or not checked.rows:
        raise ValidationError("Fix the problems the check lists first; nothing was imported.")
    count = deal_import.import_deals(session, checked.rows, progress, cancel)
    layouts.remember(session, table.header, plan)
    return count
