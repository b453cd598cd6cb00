"""The desktop's audit upload (core.sync.audit_upload) against the real server over real
PostgreSQL, from a real SQLCipher workspace with its keys in the real keyring: every row
reaches the server once, in seq order; a lost answer replays the stored receipt; a 409
resumes; a receipt that does not verify is refused; `audit verify` checks the receipts;
a database put back behind the server cannot make the server lose rows."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from desktop_support import ADMIN_PASSWORD, Linked, linked, local_rows, server_rows
from sqlalchemy import delete, select, text
from support import run_cli, sql

from closeplan_desktop.core.domain.errors import AuditUploadError, ClosePlanError, RolledBack
from closeplan_desktop.core.store import db, receipts, workspace
from closeplan_desktop.core.store.models import AuditReceipt, AuditUpload
from closeplan_desktop.core.sync import audit_upload
from closeplan_desktop.core.usecases import audit, auth, deals, restore

TABLES = ("access_logs", "security_events")


@pytest.fixture
def link(tmp_path: Path, api: Api) -> Iterator[Linked]:
    lk = linked(tmp_path / "ws", api)
    deals.create_deal(lk.admin, "Cardiology suite", "ACTIVE", "1200.00",
                      {"patient_name": "Jo Test"})
    try:
        yield lk
    finally:
        lk.ws.close()


def upload(lk: Linked, post: Any = None, **kw: Any) -> audit_upload.Uploaded:
    return audit_upload.upload(lk.ws, post or lk.post, lk.device_key, lk.server_key,
                               lk.tenant_id, **kw)


def position(lk: Linked, table: str) -> tuple[int, int | None]:
    with db.read_session(lk.ws.engine) as s:
        pos = s.get(AuditUpload, (lk.ws.device_id, table))
        return (1, None) if pos is None else (pos.next_seq, pos.pending_last)


def test_every_row_goes_once_in_seq_order_and_later_rows_next_time(link: Linked,
                                                                   api: Api) -> None:
    assert all(local_rows(link, t) for t in TABLES)
    done = upload(link, batch_rows=2)
    for t in TABLES:
        assert server_rows(api, link, t) == local_rows(link, t)
        assert done.rows[t] == len(local_rows(link, t))
    again = upload(link)
    assert again.batches == 0  # nothing twice
    deals.create_deal(link.admin, "Offline deal", "ACTIVE", "5.00")  # written while offline
    later = upload(link)
    assert later.batches >= 1
    for t in TABLES:
        assert server_rows(api, link, t) == local_rows(link, t)
    report = audit.verify(link.admin)
    assert report.ok, report.problem
    assert report.receipts_checked >= done.batches + later.batches


def test_a_lost_answer_is_sent_again_and_the_server_replays_its_receipt(
        link: Linked, api: Api) -> None:
    def lost(path: str, body: dict[str, Any]) -> dict[str, Any]:
        link.post(path, body)  # the server stores it; the answer never arrives
        raise ClosePlanError("The connection to the server was lost.")
    with pytest.raises(ClosePlanError, match="lost"):
        upload(link, lost)
    sent = server_rows(api, link, "access_logs")
    assert sent and position(link, "access_logs")[1] == sent[-1][0]  # in flight
    upload(link)
    assert server_rows(api, link, "access_logs") == local_rows(link, "access_logs")
    assert position(link, "access_logs") == (len(local_rows(link, "access_logs")) + 1, None)
    with db.read_session(link.ws.engine) as s:
        first = s.scalars(select(AuditReceipt).where(AuditReceipt.table_name == "access_logs")
                          .order_by(AuditReceipt.first_seq)).first()
    assert first is not None and first.last_seq == sent[-1][0]


def test_a_gap_answer_resumes_from_the_servers_expected_seq(link: Linked, api: Api) -> None:
    total = len(local_rows(link, "security_events"))
    with db.write_session(link.ws.engine) as s:  # marked as sent, but the server never got it
        receipts.position(s, link.ws.device_id, "security_events").next_seq = total
    upload(link)
    assert server_rows(api, link, "security_events") == local_rows(link, "security_events")


def test_a_receipt_that_does_not_verify_is_refused_and_nothing_is_marked(
        link: Linked, api: Api) -> None:
    forged = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(AuditUploadError, match="not signed by the server key"):
        audit_upload.upload(link.ws, link.post, link.device_key, forged, link.tenant_id)
    assert position(link, "access_logs")[0] == 1
    with db.read_session(link.ws.engine) as s:
        assert s.scalars(text("SELECT count(*) FROM audit_receipts")).one() == 0
    upload(link)  # with the real key: the batch in flight is replayed, nothing doubled
    assert server_rows(api, link, "access_logs") == local_rows(link, "access_logs")


def test_a_database_put_back_behind_the_server_cannot_make_it_lose_rows(
        link: Linked, api: Api) -> None:
    upload(link)
    before = {t: server_rows(api, link, t) for t in TABLES}
    with db.write_session(link.ws.engine) as s:  # an older copy: no receipts, position 1
        s.execute(delete(AuditReceipt))
        s.execute(delete(AuditUpload))
    deals.create_deal(link.admin, "After the copy", "ACTIVE", "7.00")
    with pytest.raises(AuditUploadError, match="server keeps its rows"):
        upload(link)
    assert {t: server_rows(api, link, t) for t in TABLES} == before


def test_receipts_report_rows_altered_or_removed_after_upload_and_bad_signatures(
        link: Linked, api: Api) -> None:
    upload(link)
    assert audit.verify(link.admin).ok
    d = {"d": link.ws.device_id}
    with db.write_session(link.ws.engine) as s:  # someone with the file edits it
        for table in TABLES:
            s.execute(text(f"DROP TRIGGER {table}_no_update"))
            s.execute(text(f"DROP TRIGGER {table}_no_delete"))
        s.execute(text("UPDATE access_logs SET resource_type = 'other' WHERE seq = 1 AND "
                       "device_id = :d"), d)
        s.execute(text("DELETE FROM security_events WHERE seq = 2 AND device_id = :d"), d)
        count, found = receipts.problems(s)
    assert count >= 2
    assert [(p.table, p.first_seq) for p in found if "altered" in p.what] == [("access_logs", 1)]
    assert [p.table for p in found if "removed" in p.what] == ["security_events"]
    with db.write_session(link.ws.engine) as s:
        s.execute(text("UPDATE audit_receipts SET signature = :sig WHERE table_name = "
                       "'access_logs'"), {"sig": "A" * 86 + "=="})
        _, found = receipts.problems(s)
    assert any(p.table == "access_logs" and "does not verify" in p.what for p in found)


def test_an_older_copy_put_back_and_accepted_cannot_make_the_server_lose_rows(
        link: Linked, api: Api) -> None:
    upload(link)  # part of the history is on the server, with its receipts
    link.ws.close()
    old = link.path.parent / "old-closeplan.db"
    shutil.copy2(link.ws.db_path, old)  # an older copy, taken here
    link.ws = workspace.open_workspace(link.path)
    deals.create_deal(auth.sign_in(link.ws, link.admin_email, ADMIN_PASSWORD), "Later",
                      "ACTIVE", "8.00")
    upload(link)  # the later rows reach the server too
    before = {t: server_rows(api, link, t) for t in TABLES}
    link.ws.close()
    shutil.copy2(old, link.ws.db_path)  # the older copy put back
    with pytest.raises(RolledBack):
        workspace.open_workspace(link.path)
    restore.accept_restore(link.path, link.admin_email, ADMIN_PASSWORD, "Restored from backup")
    link.ws = workspace.open_workspace(link.path)
    admin = auth.sign_in(link.ws, link.admin_email, ADMIN_PASSWORD)
    deals.create_deal(admin, "After the restore", "ACTIVE", "9.00")
    with pytest.raises(AuditUploadError, match="server keeps its rows"):
        upload(link)
    assert {t: server_rows(api, link, t) for t in TABLES} == before


def test_audit_verify_reports_a_receipt_the_pinned_key_does_not_sign(
        link: Linked, api: Api) -> None:
    upload(link)
    with db.write_session(link.ws.engine) as s:
        receipts.pin_server_key(s, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    report = audit.verify(link.admin)
    assert not report.ok
    assert "does not verify with the pinned server key" in str(report.problem)


def test_closeplan_admin_audit_verify_checks_the_receipts(link: Linked, api: Api) -> None:
    done = upload(link)
    link.ws.close()
    args = ("audit", "verify", "--workspace", link.path, "--as", link.admin_email,
            "--password-stdin")
    r = run_cli(*args, stdin=f"{ADMIN_PASSWORD}\n")
    assert r.code == 0, r.err
    assert f"{done.batches:,} server receipts verified" in r.out
    sql(link.path, "UPDATE audit_receipts SET signature = ? WHERE table_name = "
                   "'security_events'", ("A" * 86 + "==",))
    r = run_cli(*args, stdin=f"{ADMIN_PASSWORD}\n")
    assert r.code != 0
    assert "does not verify with the pinned server key" in r.err
    assert "Traceback" not in r.err
