"""Deal import from CSV: every row valid or nothing written, then one transaction.

Columns: title, status, value (required); optional owner_email (an active user of the
tenant; the importing user by default), expected_close_date (YYYY-MM-DD) and
probability (0..100); phi_<field> columns hold PHI fields. The rows go in by prepared
statements a batch at a time, with the same rows, audit hashes and outbox payloads as
`deals.create_deal` writes.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import money, phi_value, validation
from ..domain.clock import iso, utcnow
from ..domain.enums import DealStatus
from ..domain.enums import SecurityEventType as Ev
from ..domain.errors import ValidationError
from ..domain.ids import new_id
from ..domain.progress import CancelToken, Progress, no_progress
from ..security import crypto
from ..store import chain, db, history, outbox
from ..store.audit_log import RESOURCE_DEAL, audit_key, log_event
from ..store.models import Deal, User
from ..store.phi_keys import active_version, phi_key
from .frame import AuthSession, actor, run

MAX_IMPORT_BYTES = 512 * 1024 * 1024

IMPORT_REQUIRED = ("title", "status", "value")
IMPORT_OPTIONAL = ("owner_email", "expected_close_date", "probability")
PHI_PREFIX = "phi_"
IMPORT_BATCH = 2000


def parse_import(data: bytes) -> list[dict[str, Any]]:
    """Read and check a deals CSV: every row valid or nothing (the first error, by line).

    Columns: title, status, value (required); owner_email, expected_close_date,
    probability (optional); phi_<field> columns hold PHI fields. Owner emails are
    checked against the tenant's users by `import_deals` (each row keeps its line).
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError("The CSV file is too large (at most 512 MiB).")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(f"Line {line}: the CSV is not UTF-8 text; save it as UTF-8 "
                              "and try again.") from None
    if "\x00" in content:
        raise ValidationError("The file holds NUL bytes: it is not a CSV text file.")
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("The CSV file is empty; it needs a header line "
                              "(title,status,value).") from None
    except csv.Error as exc:
        raise ValidationError(f"Line 1: the CSV is malformed ({exc}).") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in IMPORT_REQUIRED if c not in columns]
    if missing:
        raise ValidationError(f"The CSV header lacks the column(s) {', '.join(missing)}; "
                              "expected title,status,value and optional owner_email, "
                              "expected_close_date, probability and phi_<field> columns.")
    for c in columns:
        if c not in IMPORT_REQUIRED + IMPORT_OPTIONAL and not (
                c.startswith(PHI_PREFIX) and phi_value.FORM_FIELD_RE.match(c[len(PHI_PREFIX):])):
            raise ValidationError(f"Unknown CSV column '{c[:40]}'; allowed: title, status, "
                                  "value, owner_email, expected_close_date, probability and "
                                  "phi_<field> (lowercase).")
    if len(set(columns)) != len(columns):
        raise ValidationError("The CSV header names a column twice.")
    rows: list[dict[str, Any]] = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise ValidationError(f"Line {line}: expected {len(columns)} fields, found "
                                      f"{len(record)}.")
            cells = dict(zip(columns, record, strict=True))
            try:
                phi = validation.phi({c[len(PHI_PREFIX):]: v for c, v in cells.items()
                                      if c.startswith(PHI_PREFIX) and v.strip()})
                owner = cells.get("owner_email", "").strip()
                rows.append({"title": validation.title(cells["title"]),
                             "status": validation.status(cells["status"]),
                             "value": money.parse(cells["value"]), "phi": phi,
                             "owner_email": validation.email(owner) if owner else None,
                             "expected_close_date": validation.close_date(
                                 cells.get("expected_close_date")),
                             "probability": validation.probability(cells.get("probability")),
                             "line": line})
            except ValidationError as exc:
                raise ValidationError(f"Line {line}: {exc}") from None
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV is malformed ({exc}).") from None
    if not rows:
        raise ValidationError("The CSV file holds no deals.")
    return rows


_DEAL_INSERT = ("INSERT INTO deals (id, title, status, value, phi, tenant_id, created_by_id, "
                "created_at, updated_at, deleted_at, phi_key_version, row_version, owner_id, "
                "expected_close_date, probability) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, ?, ?)")
# Unknown owners named in the error, at most (the rest counted).
SHOW_UNKNOWN = 10


def resolve_owners(s: Session, tenant_id: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """The active users of the tenant that `rows` name by owner_email (email → id); a
    ValidationError naming the lines of every email that is not one."""
    wanted = {r["owner_email"] for r in rows if r.get("owner_email")}
    if not wanted:
        return {}
    found = {email: (uid, active) for email, uid, active in s.execute(
        select(User.email, User.id, User.deactivated_at.is_(None))
        .where(User.tenant_id == tenant_id))}
    bad = [(r.get("line", "?"), r["owner_email"]) for r in rows if r.get("owner_email")
           and not found.get(r["owner_email"], (None, False))[1]]
    if bad:
        shown = "; ".join(f"line {line}: {email}" for line, email in bad[:SHOW_UNKNOWN])
        more = f" (and {len(bad) - SHOW_UNKNOWN} more)" if len(bad) > SHOW_UNKNOWN else ""
        raise ValidationError(f"owner_email is not an active user of your organisation "
                              f"on {len(bad)} line(s): {shown}{more}. Add or reactivate the "
                              "users, or correct the emails; nothing was imported.")
    return {email: found[email][0] for email in wanted}
_LOG_INSERT = ("INSERT INTO access_logs (id, user_id, deal_id, action, access_type, "
               "resource_type, success, timestamp, tenant_id, device_id, seq, chain_hash, "
               "reason, row_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)")


def import_deals(session: AuthSession, rows: list[dict[str, Any]],
                 progress: Progress = no_progress, cancel: CancelToken | None = None) -> int:
    """Create many deals in one transaction (all or nothing), each with its audit row
    and outbox row. `rows` come from `parse_import`.

    The rows go in by prepared statements, a batch at a time, with the audit chain's
    links computed for the whole batch at once (`chain.next_links`): the same rows,
    hashes and outbox payloads (`outbox.payload`) as `create_deal` writes, without an ORM
    object per row.
    """
    total = len(rows)
    ws = session.ws
    tenant_id, device_id = session.tenant_id, ws.device_id
    deal_table = Deal.__table__
    with run(session) as s:
        user = actor(s, session)
        user_id = user.id
        owners = resolve_owners(s, tenant_id, rows)
        extras = any(r.get("expected_close_date") is not None or r.get("probability") is not None
                     or owners.get(r.get("owner_email") or "", user_id) != user_id
                     for r in rows)
        version = active_version(s, tenant_id)
        sealer = crypto.PhiSealer(phi_key(ws, tenant_id, version), version, tenant_id)
        mac_key = audit_key(ws)
        conn = s.connection()
        progress(0, total)
        with db.bulk_cache(conn):
            for start in range(0, total, IMPORT_BATCH):
                if cancel:
                    cancel.check()
                stamp = iso(utcnow())
                deals, logs, changes = [], [], []
                for row in rows[start:start + IMPORT_BATCH]:
                    deal_id = new_id()
                    phi = row["phi"]
                    title = row["title"]
                    status = DealStatus(row["status"]).value
                    amount = Decimal(row["value"])
                    cents = int((amount * 100).to_integral_exact())
                    envelope = sealer.seal(deal_id, phi) if phi else None
                    key_version = version if phi else None
                    owner_id = owners.get(row.get("owner_email") or "", user_id)
                    close = row.get("expected_close_date")
                    close_text = None if close is None else close.isoformat()
                    chance = row.get("probability")
                    deals.append((deal_id, title, status, cents, envelope, tenant_id, user_id,
                                  stamp, stamp, key_version, owner_id, close_text, chance))
                    logs.append({"id": new_id(), "user_id": user_id, "deal_id": deal_id,
                                 "action": "DEAL_CREATE", "access_type": "WRITE",
                                 "resource_type": RESOURCE_DEAL, "success": True,
                                 "timestamp": stamp, "tenant_id": tenant_id,
                                 "device_id": device_id, "reason": None})
                    values = {"id": deal_id, "title": title, "status": status, "value": amount,
                              "phi": envelope, "phi_key_version": key_version,
                              "tenant_id": tenant_id, "created_by_id": user_id,
                              "created_at": stamp, "updated_at": stamp, "deleted_at": None,
                              "row_version": 0, "owner_id": owner_id,
                              "expected_close_date": close_text, "probability": chance}
                    changes.append((tenant_id, "deals", deal_id, "create",
                                    outbox.payload(deal_table, values), stamp))
                chain.next_links(s, mac_key, "access_logs", device_id, logs)
                conn.exec_driver_sql(_DEAL_INSERT, deals)
                first = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM outbox").scalar()
                conn.exec_driver_sql(outbox.INSERT_SQL, changes)
                conn.exec_driver_sql(history.IMPORTED_SQL, (first,))
                if extras:
                    for extra_sql in history.IMPORTED_EXTRA_SQL:
                        conn.exec_driver_sql(extra_sql, (first, first))
                conn.exec_driver_sql(history.IMPORTED_PHI_SQL, (first, first))
                conn.exec_driver_sql(_LOG_INSERT, [
                    (r["id"], user_id, r["deal_id"], "DEAL_CREATE", "WRITE", RESOURCE_DEAL, 1,
                     stamp, tenant_id, device_id, r["seq"], r["chain_hash"]) for r in logs])
                progress(min(start + IMPORT_BATCH, total), total)
        log_event(s, ws, Ev.DEALS_IMPORTED, tenant_id, user_id, {"count": total})
    return total
