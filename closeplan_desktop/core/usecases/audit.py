"""Audit use cases: access logs and security events read, verified and exported by an
admin, scoped to the tenant. The writers are in `core.store.audit_log`."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from ..domain import validation
from ..domain.clock import iso, utcnow
from ..domain.enums import AccessAction, SecurityEventType
from ..domain.errors import StorageError, ValidationError
from ..domain.ids import is_id
from ..domain.progress import Progress, no_progress
from ..store import chain, db, receipts
from ..store.audit_log import (
    OTHER_TENANT_DEAL,
    against_anchor,
    audit_key,
    changed_fields,
    log_event,
    sole_tenant,
)
from ..store.models import AccessLog, Deal, SecurityEvent, User
from . import frame

if TYPE_CHECKING:
    from .frame import AuthSession


def verify(session: AuthSession, progress: Progress = no_progress) -> chain.ChainReport:
    """Admin use case: verify the chains and record that it was done."""
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.verify")
        report = against_anchor(s, session.ws, chain.verify(
            s, audit_key(session.ws), progress, connect=db.connector(session.ws.engine)))
        report = _with_receipts(s, session, _scoped(s, session, report))
    with db.write_session(session.ws.engine) as s:
        log_event(s, session.ws, SecurityEventType.AUDIT_VERIFIED, session.tenant_id,
                  session.user_id, {"ok": report.ok, "rows": report.rows_checked})
    return report


def _with_receipts(s: Session, session: AuthSession, report: chain.ChainReport
                   ) -> chain.ChainReport:
    """The report, with the server's receipts of uploaded rows checked too: each against
    the pinned server key and the rows it covers (a row altered or removed since)."""
    count, found = receipts.problems(s)
    report = dataclasses.replace(report, receipts_checked=count)
    if report.ok and found:
        first = found[0]
        report = dataclasses.replace(report, problem=chain.ChainProblem(
            first.table, first.first_seq, None,
            f"rows seq {first.first_seq}..{first.last_seq}: {first.what}"))
    return report


def _scoped(s: Session, session: AuthSession, report: chain.ChainReport) -> chain.ChainReport:
    """The report with its count of rows scoped to the session's tenant. A workspace holds
    one tenant, so it is every row; an older workspace that holds two counts only the
    tenant's rows, so that one tenant does not learn the other's activity (finding 2)."""
    if sole_tenant(s, session.ws) == session.tenant_id:
        return report
    rows = sum(s.scalar(select(func.count()).select_from(table)
                        .where(table.tenant_id == session.tenant_id)) or 0
               for table in (AccessLog, SecurityEvent))
    return dataclasses.replace(report, rows_checked=rows)


@dataclass(frozen=True)
class AuditFilter:
    user_id: str | None = None
    deal_id: str | None = None
    action: AccessAction | None = None
    success: bool | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AccessEntry:
    id: str
    timestamp: datetime
    user_id: str
    user_email: str
    deal_id: str
    deal_title: str
    action: str
    access_type: str
    resource_type: str
    success: bool
    reason: str | None
    device_id: str
    seq: int
    # A deal change's changed fields by name ("title", "phi"...; never values), when the
    # row records them (`audit_log.deal_change_resource`).
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventEntry:
    id: str
    timestamp: datetime
    type: str
    user_id: str | None
    user_email: str | None
    detail: str
    device_id: str
    seq: int


Log = type[AccessLog] | type[SecurityEvent]
Entry = AccessEntry | EventEntry
ACCESS, EVENTS = "access", "events"  # the two logs, as `export` names them
LOGS = (ACCESS, EVENTS)


def _filtered(q: Select[*tuple[Any, ...]], table: Log,
              f: AuditFilter) -> Select[*tuple[Any, ...]]:
    """The filters both logs share: user and time."""
    if f.user_id:
        q = q.where(table.user_id == f.user_id)
    if f.since:
        q = q.where(table.timestamp >= f.since)
    if f.until:
        q = q.where(table.timestamp < f.until)
    return q


def _access_query(tenant_id: str, f: AuditFilter) -> Select[*tuple[Any, ...]]:
    u, d = aliased(User), aliased(Deal)
    # A denied attempt on another tenant's deal is logged here, but that deal's title is
    # the other tenant's data: show only that it is not ours.
    title = case((d.tenant_id == tenant_id, d.title), else_=OTHER_TENANT_DEAL)
    q = (select(AccessLog, u.email, title)
         .join(u, u.id == AccessLog.user_id).join(d, d.id == AccessLog.deal_id)
         .where(AccessLog.tenant_id == tenant_id))
    if f.deal_id:
        q = q.where(AccessLog.deal_id == f.deal_id)
    if f.action:
        q = q.where(AccessLog.action == f.action)
    if f.success is not None:
        q = q.where(AccessLog.success == f.success)
    return _filtered(q, AccessLog, f)


def _event_query(tenant_id: str, f: AuditFilter) -> Select[*tuple[Any, ...]]:
    q: Select[*tuple[Any, ...]] = (select(SecurityEvent, User.email)
                                   .outerjoin(User, User.id == SecurityEvent.user_id)
                                   .where(SecurityEvent.tenant_id == tenant_id))
    if f.event_type:
        q = q.where(SecurityEvent.type == f.event_type)
    return _filtered(q, SecurityEvent, f)


def _access_entry(row: AccessLog, email: str, title: str) -> AccessEntry:
    return AccessEntry(row.id, row.timestamp, row.user_id, email, row.deal_id, title,
                       row.action.value, row.access_type.value, row.resource_type, row.success,
                       row.reason, row.device_id, row.seq, changed_fields(row.resource_type))


def _event_entry(row: SecurityEvent, email: str | None) -> EventEntry:
    return EventEntry(row.id, row.timestamp, row.type, row.user_id, email, row.detail,
                      row.device_id, row.seq)


# Each log: its table, its filtered query and how a result row becomes an entry.
_LOGS: dict[str, tuple[Log, Callable[[str, AuditFilter], Select[*tuple[Any, ...]]],
                       Callable[..., Entry]]] = {
    ACCESS: (AccessLog, _access_query, _access_entry),
    EVENTS: (SecurityEvent, _event_query, _event_entry),
}


def _page(session: AuthSession, log: str, f: AuditFilter, offset: int,
          limit: int) -> tuple[list[Any], int]:
    """One page of `log`, newest first, and the count of what the filter matches."""
    offset, limit = validation.page(offset, limit)
    table, query, entry = _LOGS[log]
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.read")
        q = query(session.tenant_id, f)
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.execute(q.order_by(table.timestamp.desc(), table.seq.desc())
                         .offset(offset).limit(limit)).all()
        return [entry(*r) for r in rows], total


def list_access(session: AuthSession, f: AuditFilter = AuditFilter(), *, offset: int = 0,
                limit: int = 100) -> tuple[list[AccessEntry], int]:
    """Admin use case: one page of the tenant's access logs, newest first, and the count."""
    return _page(session, ACCESS, f, offset, limit)


def list_events(session: AuthSession, f: AuditFilter = AuditFilter(), *, offset: int = 0,
                limit: int = 100) -> tuple[list[EventEntry], int]:
    """Admin use case: one page of the tenant's security events, newest first."""
    return _page(session, EVENTS, f, offset, limit)


MAX_DEAL_CHOICES = 50


def logged_deals(session: AuthSession, search: str = "",
                 limit: int = MAX_DEAL_CHOICES, *, logged_only: bool = True
                 ) -> list[tuple[str, str]]:
    """Admin use case: (id, title) of the tenant's deals that the access log mentions and
    whose title contains `search` (any case), by title: what the deal filter offers.
    Deleted deals are included (their log stays). `logged_only=False`: any of the
    tenant's deals (the organisation's log names deals this laptop's does not)."""
    _, limit = validation.page(0, limit, MAX_DEAL_CHOICES)
    needle = validation.text(search, "Search", max_len=validation.MAX_TITLE, required=False)
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.read")
        logged = (select(AccessLog.deal_id).where(AccessLog.tenant_id == session.tenant_id)
                  .where(AccessLog.deal_id == Deal.id).exists())
        q = select(Deal.id, Deal.title).where(Deal.tenant_id == session.tenant_id)
        if logged_only:
            q = q.where(logged)
        if needle:
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(Deal.title.ilike(f"%{escaped}%", escape="\\"))
        return [(i, t) for i, t in s.execute(q.order_by(Deal.title, Deal.id).limit(limit))]


def deal_titles(session: AuthSession, deal_ids: Iterable[str]) -> dict[str, str]:
    """Admin use case: the titles of those of `deal_ids` that are the tenant's deals
    (security events name deals by id; a title is no PHI). Other ids are left out."""
    wanted = sorted({i for i in deal_ids if is_id(i)})
    if not wanted:
        return {}
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.read")
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            rows = s.execute(select(Deal.id, Deal.title).where(
                Deal.tenant_id == session.tenant_id, Deal.id.in_(wanted[start:start + 500])))
            found.update((i, t) for i, t in rows)
        return found


EXPORT_FORMATS = ("csv", "fhir")
CSV_COLUMNS = ("kind", "id", "timestamp", "user_id", "user_email", "deal_id", "action",
               "access_type", "resource_type", "success", "reason", "event_type", "detail",
               "device_id", "seq")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _export_rows(s: Session, tenant_id: str, f: AuditFilter, logs: Sequence[str],
                 progress: Progress) -> Iterator[Entry]:
    done = 0
    for log in logs:
        table, query, entry = _LOGS[log]
        for row in s.execute(query(tenant_id, f).order_by(table.timestamp, table.seq)
                             .execution_options(yield_per=2000)):
            done += 1
            if done % 2000 == 0:
                progress(done, None)
            yield entry(*row)


def _csv_record(e: Entry) -> list[str]:
    if isinstance(e, AccessEntry):
        vals: list[object] = ["access", e.id, iso(e.timestamp), e.user_id, e.user_email,
                              e.deal_id, e.action, e.access_type, e.resource_type,
                              "true" if e.success else "false", e.reason, "", "", e.device_id,
                              e.seq]
    else:
        vals = ["security", e.id, iso(e.timestamp), e.user_id, e.user_email, "", "", "", "",
                "", "", e.type, e.detail, e.device_id, e.seq]
    return [csv_safe(v) for v in vals]


_FHIR_ACTION = {"PHI_ACCESS": "R", "DEAL_CREATE": "C", "DEAL_UPDATE": "U", "DEAL_DELETE": "D"}


def _fhir_event(e: Entry, device_id: str) -> dict[str, Any]:
    agent: dict[str, Any] = {"requestor": True}
    if e.user_id:
        agent["who"] = {"identifier": {"system": "urn:closeplan:user", "value": e.user_id},
                        "display": e.user_email}
    ev: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": e.id,
        "recorded": iso(e.timestamp),
        "agent": [agent],
        "source": {"observer": {"identifier": {"system": "urn:closeplan:device",
                                               "value": e.device_id}},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/"
                             "security-source-type", "code": "1",
                             "display": "User Device"}]},
        "extension": [{"url": "urn:closeplan:audit-seq", "valueInteger": e.seq}],
    }
    if isinstance(e, AccessEntry):
        ev["type"] = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                      "code": "rest", "display": "RESTful Operation"}
        ev["subtype"] = [{"system": "urn:closeplan:access-action", "code": e.action}]
        ev["action"] = _FHIR_ACTION[e.action]
        ev["outcome"] = "0" if e.success else "4"
        entity: dict[str, Any] = {
            "what": {"identifier": {"system": "urn:closeplan:deal", "value": e.deal_id}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                     "code": "2", "display": "System Object"},
            "description": e.resource_type,
        }
        if e.reason:
            entity["detail"] = [{"type": "break-glass-reason", "valueString": e.reason}]
            ev["purposeOfEvent"] = [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "ETREAT", "display": "Emergency Treatment"}]}]
        ev["entity"] = [entity]
    else:
        ev["type"] = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110113",
                      "display": "Security Alert"}
        ev["subtype"] = [{"system": "urn:closeplan:security-event", "code": e.type}]
        ev["action"] = "E"
        ev["outcome"] = "4" if e.type in ("LOGIN_FAILURE", "LOCKOUT", "LOGIN_LOCKED",
                                          "ACCESS_DENIED") else "0"
        ev["outcomeDesc"] = e.detail
    return ev


def export(session: AuthSession, target: Path, fmt: str, f: AuditFilter = AuditFilter(),
           progress: Progress = no_progress, logs: Sequence[str] = LOGS) -> int:
    """Admin use case: write the tenant's audit to `target` as CSV or FHIR R4 JSON: the
    rows of `logs` (the access log, the security events, or both) that `f` matches, as
    the lists show them.

    The file appears whole or not at all, and the export is itself a security event.
    Returns the number of records written.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"Export format must be one of {', '.join(EXPORT_FORMATS)}.")
    if not logs or any(log not in _LOGS for log in logs):
        raise ValidationError(f"Export logs must be some of {', '.join(LOGS)}.")
    target = Path(target)
    if target.is_dir():
        raise ValidationError(f"{target} is a folder; give a file name for the export.")
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.")
    with frame.run(session, write=False) as s:
        frame.require_admin(s, session, "audit.export")
        buf = io.StringIO()
        count = 0
        if fmt == "csv":
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(CSV_COLUMNS)
            for e in _export_rows(s, session.tenant_id, f, logs, progress):
                w.writerow(_csv_record(e))
                count += 1
        else:
            entries = [{"fullUrl": f"urn:uuid:{e.id}",
                        "resource": _fhir_event(e, session.ws.device_id)}
                       for e in _export_rows(s, session.tenant_id, f, logs, progress)]
            count = len(entries)
            bundle = {"resourceType": "Bundle", "type": "collection",
                      "timestamp": iso(utcnow()), "total": count, "entry": entries}
            buf.write(json.dumps(bundle, indent=1, ensure_ascii=False))
    data = buf.getvalue().encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StorageError(f"Cannot write the export to {target.parent} ({exc.strerror}); "
                           "nothing was exported.") from None
    try:
        with db.write_session(session.ws.engine) as s:
            log_event(s, session.ws, SecurityEventType.AUDIT_EXPORTED, session.tenant_id,
                      session.user_id, {"format": fmt, "records": count,
                                        "file": target.name})
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
