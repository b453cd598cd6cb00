"""Export a deal list (a view) as CSV (issue 15): its rows in its order, no PHI unless
asked, and then each deal's PHI logged before it is written.

- The rows are read by keyset pages (`deal_list.list_deals(after=...)`) and written as
  they come: nothing holds the whole list, so a million rows export in bounded memory.
- The file is written next to the target under a temporary name and renamed at the
  end: a cancelled or failed export leaves no partial file. It is readable by its
  owner only (0600).
- Values as a spreadsheet reads them (amounts as plain numbers, times as
  "YYYY-MM-DD HH:MM:SS" in UTC); a cell that starts with = + - @ (or a tab or carriage
  return) is prefixed with ' so a spreadsheet shows it as text and never runs it as a
  formula (CSV injection).
- With PHI (`with_phi`, a typed `reason`): only deals whose PHI the user may reveal
  without break-glass (DESIGN.md 5: their own, or any for an admin) get the PHI
  columns; the others are marked withheld and counted. Policy has no setting that
  forbids PHI export for reps (DESIGN.md 8); the rule is the reveal rule. Per page,
  the PHI is decrypted in memory, then one PHI_ACCESS/READ access-log row per deal
  (with the reason) is committed, and only then is that page written to the file
  (DESIGN.md 6). The rows go in by one chain step per page (`chain.next_links`), which
  keeps it fast.
- The export is a security event (DEALS_EXPORTED: counts and the file name, never
  values), written when it ends, also when cancelled after PHI was logged.
"""

from __future__ import annotations

import codecs
import csv
import errno
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..domain import money, validation
from ..domain.clock import iso, utcnow
from ..domain.enums import AccessAction, AccessType
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import CryptoError, KeyringError, StorageError, ValidationError
from ..domain.ids import new_id
from ..domain.progress import CancelToken, Progress, no_progress
from ..domain.validation import STANDARD_PHI_FIELDS
from ..security import crypto
from ..store import anchor, chain, db, search
from ..store.audit_log import RESOURCE_DEAL_PHI, audit_key, log_event
from ..store.models import Deal
from ..store.phi_keys import phi_key
from .deal_list import (
    DealQuery,
    DealSummary,
    check_query,
    count_deals,
    list_deals,
    sort_value,
)
from .deals import may_change
from .frame import AuthSession, actor, run

PAGE = 1000  # rows read (and logged, with PHI) per step
# A cell a spreadsheet would read as a formula (OWASP: CSV injection).
FORMULA_STARTS = frozenset("=+-@\t\r")
WITHHELD = "withheld: another user's deal"
UNREADABLE = "withheld: could not be decrypted"


def _time(value: datetime | None) -> str:
    # isoformat, not strftime: about four times cheaper per cell.
    return "" if value is None else value.isoformat(" ", "seconds")[:19]


# The list's columns, as the export writes them: (header, value of a listed deal).
COLUMNS: tuple[tuple[str, Callable[[DealSummary], str]], ...] = (
    ("ID", lambda d: d.id),
    ("Title", lambda d: d.title),
    ("Status", lambda d: d.status.value),
    ("Value", lambda d: money.to_text(d.value)),
    ("Owner", lambda d: d.owner_name),
    ("Expected close", lambda d: d.expected_close_date.isoformat()
     if d.expected_close_date else ""),
    ("Probability (%)", lambda d: str(d.effective_probability)),
    ("Created by", lambda d: d.created_by_name),
    ("Created (UTC)", lambda d: _time(d.created_at)),
    ("Updated (UTC)", lambda d: _time(d.updated_at)),
)
DELETED_COLUMN: tuple[str, Callable[[DealSummary], str]] = (
    "Deleted (UTC)", lambda d: _time(d.deleted_at))
PHI_COLUMNS = ("PHI", *(label for _, label in STANDARD_PHI_FIELDS), "Other PHI")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: rows, the deals exported with PHI, and those withheld."""

    path: Path
    rows: int
    with_phi: int = 0
    withheld: int = 0

    def summary(self) -> str:
        """One line for the window and the CLI."""
        text = f"Exported {self.rows:,} deals to {self.path.name}."
        if self.with_phi or self.withheld:
            text += (f" PHI of {self.with_phi:,} deals (logged, one row each); "
                     f"{self.withheld:,} withheld.")
        return text


def neutralize(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a '."""
    return "'" + cell if cell and cell[0] in FORMULA_STARTS else cell


def _phi_cells(phi: dict[str, Any]) -> list[str]:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    cells = ["exported", *(text(phi[k]) if k in phi else "" for k, _ in STANDARD_PHI_FIELDS)]
    standard = {k for k, _ in STANDARD_PHI_FIELDS}
    rest = {k: v for k, v in phi.items() if k not in standard}
    cells.append(json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else "")
    return cells


_LOG_INSERT = ("INSERT INTO access_logs (id, user_id, deal_id, action, access_type, "
               "resource_type, success, timestamp, tenant_id, device_id, seq, chain_hash, "
               "reason, row_version) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, 0)")


class _PhiReader:
    """Decrypts and logs the PHI of one page's deals that the user may reveal."""

    def __init__(self, session: AuthSession, reason: str) -> None:
        self.session = session
        self.reason = reason
        self.keys: dict[int, bytes] = {}

    def _key(self, version: int) -> bytes:
        if version not in self.keys:
            self.keys[version] = phi_key(self.session.ws, self.session.tenant_id, version)
        return self.keys[version]

    def page(self, deals: Sequence[DealSummary]) -> dict[str, dict[str, Any] | None]:
        """PHI by deal id for the page's revealable deals with PHI (None: could not be
        decrypted). Their access-log rows are committed when this returns."""
        session = self.session
        wanted = [d.id for d in deals if d.has_phi and may_change(session, d.owner_id)]
        if not wanted:
            return {}
        out: dict[str, dict[str, Any] | None] = {}
        with run(session) as s:
            actor(s, session)  # re-read: a deactivation stops the export
            rows = s.execute(select(Deal.id, Deal.phi, Deal.owner_id).where(
                Deal.tenant_id == session.tenant_id, Deal.id.in_(wanted)))
            for deal_id, envelope, owner in rows:
                # Re-checked on the stored row: a deal handed to someone else since the
                # page was read is withheld.
                if envelope is None or not may_change(session, owner):
                    continue
                try:
                    key = self._key(crypto.envelope_version(envelope))
                    out[deal_id] = crypto.decrypt_phi(key, session.tenant_id, deal_id,
                                                      envelope)
                except (CryptoError, KeyringError):
                    out[deal_id] = None
            stamp = iso(utcnow())
            ws = session.ws
            logs: list[dict[str, object]] = [
                {"id": new_id(), "user_id": session.user_id, "deal_id": deal_id,
                 "action": AccessAction.PHI_ACCESS.value, "access_type": AccessType.READ.value,
                 "resource_type": RESOURCE_DEAL_PHI, "success": True, "timestamp": stamp,
                 "tenant_id": session.tenant_id, "device_id": ws.device_id,
                 "reason": self.reason}
                for deal_id, phi in out.items() if phi is not None]
            chain.next_links(s, audit_key(ws), "access_logs", ws.device_id, logs)
            anchor.track(s, ws.anchor)
            s.connection().exec_driver_sql(_LOG_INSERT, [
                (r["id"], r["user_id"], r["deal_id"], r["action"], r["access_type"],
                 r["resource_type"], stamp, r["tenant_id"], r["device_id"], r["seq"],
                 r["chain_hash"], r["reason"]) for r in logs])
        return out


def _storage_error(target: Path, exc: OSError) -> StorageError:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; free some space or choose another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "you may not write there; choose another folder"
    else:
        why = exc.strerror or type(exc).__name__
    return StorageError(f"Cannot write the export to {target.parent}: {why}. Nothing was "
                        "exported.")


def _check_target(target: Path) -> Path:
    target = Path(target)
    if target.is_dir():
        raise StorageError(f"{target} is a folder; give a file name for the export.")
    if not target.parent.is_dir():
        raise StorageError(f"The folder {target.parent} does not exist; choose another one.")
    return target


@dataclass
class _Counts:
    rows: int = 0
    with_phi: int = 0
    withheld: int = 0


def export_deals(session: AuthSession, query: DealQuery, target: Path, *,
                 with_phi: bool = False, reason: str | None = None, excel_bom: bool = False,
                 progress: Progress = no_progress, cancel: CancelToken | None = None,
                 page: int = PAGE) -> ExportResult:
    """Write the deals `query` lists to `target` as CSV, in the list's order, and return
    what was written. See the module docstring for PHI, logging and the file."""
    check_query(query)
    if with_phi and (reason is None or not str(reason).strip()):
        raise ValidationError("Exporting PHI needs a reason: say why this file needs patient "
                              "details (it is logged with each deal).")
    clean_reason = validation.reason(reason) if with_phi else None
    target = _check_target(target)
    with run(session, write=False) as s:
        actor(s, session)
    total: int | None = None
    if not search.fts_query(query.search):
        total = count_deals(session, query)
    columns = COLUMNS + ((DELETED_COLUMN,) if query.deleted else ())
    header = [h for h, _ in columns] + (list(PHI_COLUMNS) if with_phi else [])
    reader = _PhiReader(session, clean_reason) if clean_reason is not None else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _storage_error(target, exc) from None
    counts = _Counts()
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if excel_bom:
                fh.write(codecs.BOM_UTF8.decode("utf-8"))
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(header)
            _write_rows(session, query, writer, columns, reader, counts, progress, cancel,
                        total, page)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        raise _storage_error(target, exc) from None
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
        # Also for a stopped export whose PHI was logged: the event says so.
        if done or counts.with_phi:
            _log_export(session, counts, target, with_phi, done)
    return ExportResult(target, counts.rows, counts.with_phi, counts.withheld)


def _write_rows(session: AuthSession, query: DealQuery, writer: Any,
                columns: Sequence[tuple[str, Callable[[DealSummary], str]]],
                reader: _PhiReader | None, counts: _Counts, progress: Progress,
                cancel: CancelToken | None, total: int | None, page: int) -> None:
    after: tuple[Any, str] | None = None
    progress(0, total)
    while True:
        if cancel is not None:
            cancel.check()
        deals = list_deals(session, query, limit=page, after=after)
        if not deals:
            break
        phi = reader.page(deals) if reader is not None else {}
        for d in deals:
            cells = [neutralize(get(d)) for _, get in columns]
            if reader is not None:
                found = phi.get(d.id)
                if found is not None:
                    cells += [neutralize(c) for c in _phi_cells(found)]
                    counts.with_phi += 1
                elif d.has_phi:
                    cells.append(UNREADABLE if d.id in phi else WITHHELD)
                    counts.withheld += 1
            writer.writerow(cells)
        counts.rows += len(deals)
        progress(counts.rows, total)
        last = deals[-1]
        after = (sort_value(last, query.sort), last.id)
        if len(deals) < page:
            break


def _log_export(session: AuthSession, counts: _Counts, target: Path, with_phi: bool,
                done: bool) -> None:
    with db.write_session(session.ws.engine) as s:
        log_event(s, session.ws, Ev.DEALS_EXPORTED, session.tenant_id, session.user_id,
                  {"rows": counts.rows, "phi": counts.with_phi, "withheld": counts.withheld,
                   "with_phi": with_phi, "file": target.name, "completed": done})
