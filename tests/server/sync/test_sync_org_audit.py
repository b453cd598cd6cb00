"""An admin's laptop reads the whole organisation's audit from the server (issue 12, "Audit
upload"): every device's rows, newest first, page after page, with the local pane's
filters; reveals per user and day counted tenant-wide; no PHI anywhere in it; a user is
refused on both sides; reading it writes no access-log row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from api_support import Api
from laptop_support import Laptop, connect_laptop, new_tenant
from pg_support import ServerDb

from closeplan_desktop.core.domain.enums import AccessAction
from closeplan_desktop.core.domain.errors import PermissionDenied, ServerRefused
from closeplan_desktop.core.sync import audit_views
from closeplan_desktop.core.usecases import audit_stats, deals, users
from closeplan_desktop.core.usecases.audit import AuditFilter

REP_PASSWORD = "Marble-Kettle-Violin-77"
PHI = {"patient_name": "Jane Roe-Okafor", "mrn": "MRN-775533"}


@pytest.fixture(scope="module")
def org(live: Api, server_db: ServerDb,
        tmp_path_factory: pytest.TempPathFactory) -> tuple[Laptop, Laptop, str]:
    """Ada's admin laptop and Sam's laptop; Sam revealed PHI (once break-glass, once
    refused) and both uploaded their audit."""
    tmp = tmp_path_factory.mktemp("org")
    new_tenant(server_db, "Org Audit", "ada@org-audit.example")
    a = connect_laptop(live, tmp / "ada-laptop", "ada@org-audit.example")
    admin = a.session()
    rep = users.add_user(admin, "sam@org-audit.example", "Sam", "Sales", "USER", REP_PASSWORD)
    ada_deal = deals.create_deal(admin, "Cardiology suite", "ACTIVE", "100.00", PHI)
    a.sync()
    b = connect_laptop(live, tmp / "sam-laptop", "sam@org-audit.example", REP_PASSWORD,
                       approver=a)
    sam = b.session()
    own = deals.create_deal(sam, "Sam's clinic", "ACTIVE", "10.00", PHI)
    for _ in range(3):
        assert deals.reveal_phi(sam, own.id) == PHI
    assert deals.reveal_phi(sam, ada_deal.id, reason="Covering for Ada")["mrn"] == PHI["mrn"]
    with pytest.raises(PermissionDenied):
        deals.delete_deal(sam, ada_deal.id)  # refused, and logged
    b.sync()
    a.sync()
    assert deals.reveal_phi(admin, ada_deal.id) == PHI
    a.sync()
    yield a, b, rep.id
    b.close()
    a.close()


def _all(read: object, **kw: object) -> list[object]:
    """Every page of one view, following the cursors."""
    found: list[object] = []
    cursor = None
    while True:
        page = read(cursor=cursor, **kw)  # type: ignore[operator]
        found += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return found


def test_every_devices_rows_newest_first_in_pages(org: tuple[Laptop, Laptop, str]) -> None:
    a, b, sam_id = org
    admin = a.session()
    first = audit_views.access_page(admin, a.transport, limit=2)
    assert len(first.entries) == 2 and first.next_cursor is not None
    rows = _all(lambda **kw: audit_views.access_page(admin, a.transport, limit=2, **kw))
    assert rows[:2] == first.entries
    keys = [(e.timestamp, e.id) for e in rows]  # type: ignore[attr-defined]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    devices = {e.device_id for e in rows}  # type: ignore[attr-defined]
    assert {a.ws.device_id, b.ws.device_id} <= devices
    sams = [e for e in rows if e.user_id == sam_id]  # type: ignore[attr-defined]
    assert sams and {e.user_email for e in sams} == {"sam@org-audit.example"}
    # Sam's reveals came from his laptop (the server logs its own rows of his pushes).
    assert {e.device_id for e in sams if e.action == "PHI_ACCESS"} == {b.ws.device_id}
    glass = [e for e in sams if e.reason]
    assert [(g.reason, g.deal_title) for g in glass] == [("Covering for Ada",
                                                          "Cardiology suite")]
    # Which device each row came from: the admin's list of devices names them.
    names = audit_views.device_names(a.transport, own=[a.ws.device_id])
    assert names[b.ws.device_id] == "sam-laptop" and names[a.ws.device_id] == "This laptop"
    # The local log of this laptop holds none of Sam's rows: only the server has them.
    assert a.rows("SELECT count(*) FROM access_logs WHERE user_id = ?", (sam_id,)) == [(0,)]


def test_the_local_panes_filters_apply(org: tuple[Laptop, Laptop, str]) -> None:
    a, b, sam_id = org
    admin = a.session()

    def read(f: AuditFilter) -> list[object]:
        return _all(lambda **kw: audit_views.access_page(admin, a.transport, f, **kw))

    by_sam = read(AuditFilter(user_id=sam_id))
    assert by_sam and all(e.user_id == sam_id for e in by_sam)  # type: ignore[attr-defined]
    reveals = read(AuditFilter(user_id=sam_id, action=AccessAction.PHI_ACCESS))
    assert len(reveals) == 4
    refused = read(AuditFilter(success=False))
    assert [(e.user_id, e.action) for e in refused] == [  # type: ignore[attr-defined]
        (sam_id, "DEAL_DELETE")]
    future = datetime.now(UTC) + timedelta(days=1)
    assert read(AuditFilter(since=future)) == []
    assert read(AuditFilter(until=datetime.now(UTC) - timedelta(days=1))) == []
    events = _all(lambda **kw: audit_views.events_page(
        admin, a.transport, AuditFilter(user_id=sam_id, event_type="LOGIN_SUCCESS"), **kw))
    # Sam's sign-ins on the laptop (offline) and on the server (online, the server's rows).
    assert {(e.type, e.device_id) for e in events} == {  # type: ignore[attr-defined]
        ("LOGIN_SUCCESS", b.ws.device_id), ("LOGIN_SUCCESS", audit_views.SERVER_DEVICE)}


def test_reveals_by_day_are_tenant_wide_and_judged_by_the_local_rule(
        org: tuple[Laptop, Laptop, str]) -> None:
    a, _b, sam_id = org
    admin = a.session()
    tenant = audit_views.reveals_by_day(admin, a.transport)
    assert not tenant.more
    mine = {(s.user_id, s.reveals, s.refused, s.break_glass) for s in tenant.stats}
    assert (sam_id, 4, 0, 1) in mine and (admin.user_id, 1, 0, 0) in mine
    sams = next(s for s in tenant.stats if s.user_id == sam_id)
    assert sams.unusual and "break-glass" in sams.why and sams.user_name == "Sam Sales"
    local = audit_stats.reveals_per_user_day(admin)
    assert {s.user_id for s in local} == {admin.user_id}  # this laptop's rows only
    later = audit_views.reveals_by_day(admin, a.transport,
                                       since=datetime.now(UTC) + timedelta(days=1))
    assert later.stats == []


def test_no_phi_reaches_the_organisations_audit_and_reading_it_logs_no_access(
        org: tuple[Laptop, Laptop, str]) -> None:
    a, _b, _sam = org
    admin = a.session()
    before = a.rows("SELECT count(*) FROM access_logs")
    raw = [a.transport.call("GET", f"/v1/admin/{path}", params={"limit": 500})
           for path in ("access-logs", "security-events", "reveals-by-day")]
    entries = _all(lambda **kw: audit_views.access_page(admin, a.transport, **kw))
    events = _all(lambda **kw: audit_views.events_page(admin, a.transport, **kw))
    stats = audit_views.reveals_by_day(admin, a.transport).stats
    text = json.dumps(raw) + repr(entries) + repr(events) + repr(stats)
    for value in PHI.values():
        assert value not in text
    assert a.rows("SELECT count(*) FROM access_logs") == before


def test_a_user_is_refused_here_and_by_the_server(org: tuple[Laptop, Laptop, str]) -> None:
    _a, b, _sam = org
    sam = b.session()
    with pytest.raises(PermissionDenied):
        audit_views.access_page(sam, b.transport)
    with pytest.raises(PermissionDenied):
        audit_views.reveals_by_day(sam, b.transport)
    denied = b.rows("SELECT detail FROM security_events WHERE type = 'ACCESS_DENIED' "
                    "ORDER BY seq DESC LIMIT 1")
    assert "audit.read" in str(denied[0][0])
    for path in ("access-logs", "security-events", "reveals-by-day"):
        with pytest.raises(ServerRefused) as refused:
            b.transport.call("GET", f"/v1/admin/{path}")
        assert refused.value.status == 403, path
