"""Audit: tamper evidence of the hash chain, listing, exports (themselves audited)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support import Env, sql

from closeplan_desktop.core.domain.enums import AccessAction
from closeplan_desktop.core.domain.errors import PermissionDenied, ValidationError
from closeplan_desktop.core.store import chain, processes
from closeplan_desktop.core.usecases import audit, deals
from closeplan_desktop.core.usecases.audit import AuditFilter


@pytest.fixture(params=["one pass", "ranges"])
def logged(env: Env, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A workspace with a handful of access-log rows, closed for tampering. Each test runs
    twice: once as one pass, once with every chain split into ranges checked at once (as
    long chains are), so both name the same first problem."""
    if request.param == "ranges":
        monkeypatch.setattr(chain, "PARALLEL_FROM", 2)
        monkeypatch.setattr(chain, "VERIFY_RANGES", 3)
    for i in range(4):
        d = deals.create_deal(env.admin, f"Deal {i}", "ACTIVE", "1", {"mrn": f"M{i}"})
        deals.reveal_phi(env.admin, d.id)
    assert audit.verify(env.admin).ok
    env.ws.engine.dispose()
    return env


def tamper(env: Env, *stmts: str) -> None:
    drops = ["DROP TRIGGER access_logs_no_update", "DROP TRIGGER access_logs_no_delete"]
    for stmt in [*drops, *stmts]:
        sql(env.path, stmt)


def log_ids(env: Env) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in sql(env.path, "SELECT id, seq FROM access_logs ORDER BY seq")]


def test_untouched_chain_verifies(logged: Env) -> None:
    report = audit.verify(logged.admin)
    assert report.ok and report.rows_checked >= 8


def test_ranges_are_checked_at_once_and_cover_every_row(
        logged: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    here: list[tuple[int, int | None]] = []
    sent: list[tuple[int, int | None]] = []
    scan = chain._scan_range

    def spy(conn, table, key, device, rng, report):  # type: ignore[no-untyped-def]
        here.append((rng.lo, rng.hi))
        return scan(conn, table, key, device, rng, report)

    class Job(processes.Job):
        def __init__(self, fn, *args, **kw):  # type: ignore[no-untyped-def]
            sent.append((args[4], args[5]))
            super().__init__(fn, *args, **kw)

    monkeypatch.setattr(chain, "_scan_range", spy)
    monkeypatch.setattr(processes, "Job", Job)
    rows = sql(logged.path, "SELECT count(*) FROM access_logs")[0][0]
    events = sql(logged.path, "SELECT count(*) FROM security_events")[0][0]
    report = audit.verify(logged.admin)
    assert report.ok and report.rows_checked == rows + events
    if chain.VERIFY_RANGES == 3:
        # The access log: its first range here, the other two in worker processes.
        assert here[0][0] == 1 and len(sent) >= 2
        tiles = [here[0], *sent[:2]]
        assert report.ranges_in_workers == 4  # two per chain
        assert tiles[-1][1] is None
        assert [lo for lo, _ in tiles[1:]] == [hi + 1 for _, hi in tiles[:-1]]
    else:
        assert sent == [] and all(r == (1, None) for r in here)


def test_long_and_oddly_typed_fields_verify(logged: Env) -> None:
    """A field too long for the fast length table, and a value stored with another type
    than core writes but the same text, take the field-by-field check and pass."""
    deal = deals.create_deal(logged.admin, "Long reason", "ACTIVE", "1", {"mrn": "M9"})
    deals.reveal_phi(logged.user, deal.id, reason="\U0001f512" * 400)  # 1,600 bytes
    assert audit.verify(logged.admin).ok
    rid = log_ids(logged)[2][0]
    tamper(logged, f"UPDATE access_logs SET success='1' WHERE id='{rid}'")
    assert audit.verify(logged.admin).ok


def test_edited_row_is_named(logged: Env) -> None:
    rid, seq = log_ids(logged)[3]
    tamper(logged, f"UPDATE access_logs SET success=0 WHERE id='{rid}'")
    report = audit.verify(logged.admin)
    assert not report.ok and report.problem is not None
    assert report.problem.row_id == rid and report.problem.seq == seq
    assert "changed" in str(report.problem)


def test_deleted_row_is_named(logged: Env) -> None:
    ids = log_ids(logged)
    tamper(logged, f"DELETE FROM access_logs WHERE id='{ids[2][0]}'")
    report = audit.verify(logged.admin)
    assert report.problem is not None and report.problem.row_id == ids[3][0]
    assert "removed" in str(report.problem)


def test_inserted_row_is_named(logged: Env) -> None:
    ids = log_ids(logged)
    row = sql(logged.path, "SELECT * FROM access_logs WHERE id=?", (ids[1][0],))[0]
    cols = [r[1] for r in sql(logged.path, "PRAGMA table_info(access_logs)")]
    fake = dict(zip(cols, row, strict=True))
    fake["id"] = "cfake000000000000000000000"[:25]
    fake["timestamp"] = "2026-01-01T00:00:00.000000Z"
    # Shift later rows up to make room, as a forger would.
    tamper(logged, "UPDATE access_logs SET seq = seq + 1000 WHERE seq > 2",
           "UPDATE access_logs SET seq = seq - 999 WHERE seq > 1000")
    sql(logged.path, f"INSERT INTO access_logs ({','.join(cols)}) VALUES "
                     f"({','.join('?' * len(cols))})",
        tuple({**fake, "seq": 3}[c] for c in cols))
    report = audit.verify(logged.admin)
    assert report.problem is not None and report.problem.seq == 3
    assert report.problem.row_id == fake["id"]


def test_reordered_rows_are_named(logged: Env) -> None:
    ids = log_ids(logged)
    a, b = ids[4], ids[5]
    tamper(logged, f"UPDATE access_logs SET seq=-1 WHERE id='{a[0]}'",
           f"UPDATE access_logs SET seq={a[1]} WHERE id='{b[0]}'",
           f"UPDATE access_logs SET seq={b[1]} WHERE id='{a[0]}'")
    report = audit.verify(logged.admin)
    assert report.problem is not None and report.problem.row_id == b[0]
    assert "reordered" in str(report.problem)


def test_cut_tail_is_noticed(logged: Env) -> None:
    ids = log_ids(logged)
    tamper(logged, f"DELETE FROM access_logs WHERE seq > {ids[-3][1]}")
    report = audit.verify(logged.admin)
    assert report.problem is not None and report.problem.row_id == ids[-3][0]
    assert "cut off" in str(report.problem)


def test_forged_head_is_noticed(logged: Env) -> None:
    ids = log_ids(logged)
    last = sql(logged.path, "SELECT chain_hash FROM access_logs WHERE seq=?", (ids[-2][1],))
    tamper(logged, f"DELETE FROM access_logs WHERE seq = {ids[-1][1]}")
    sql(logged.path, "UPDATE audit_heads SET seq=?, head_hash=? WHERE chain LIKE 'access_logs:%'",
        (ids[-2][1], last[0][0]))
    report = audit.verify(logged.admin)
    assert report.problem is not None and "head was altered" in str(report.problem)


def test_security_event_edit_is_named(logged: Env) -> None:
    rid = sql(logged.path, "SELECT id FROM security_events ORDER BY seq LIMIT 1 OFFSET 2")[0][0]
    sql(logged.path, "DROP TRIGGER security_events_no_update")
    sql(logged.path, f"UPDATE security_events SET detail='{{}}' WHERE id='{rid}'")
    report = audit.verify(logged.admin)
    assert report.problem is not None and report.problem.table == "security_events"
    assert report.problem.row_id == rid


def test_only_admins_read_verify_and_export(env: Env, tmp_path: Path) -> None:
    for op in (lambda: audit.verify(env.user), lambda: audit.list_access(env.user),
               lambda: audit.export(env.user, tmp_path / "x.csv", "csv")):
        with pytest.raises(PermissionDenied):
            op()
    assert not (tmp_path / "x.csv").exists()


def test_list_filters_and_paging(logged: Env) -> None:
    page, total = audit.list_access(logged.admin, AuditFilter(action=AccessAction.PHI_ACCESS),
                                    limit=3)
    assert total == 4 and len(page) == 3
    assert all(e.action == "PHI_ACCESS" and e.success for e in page)
    _, failures = audit.list_access(logged.admin, AuditFilter(success=False))
    assert failures == 0
    events, n = audit.list_events(logged.admin, AuditFilter(event_type="LOGIN_SUCCESS"))
    assert n >= 1 and events[0].type == "LOGIN_SUCCESS"


def test_csv_export_neutralises_formulas_and_is_audited(env: Env, tmp_path: Path) -> None:
    d = deals.create_deal(env.user, '=HYPERLINK("http://evil","x")', "ACTIVE", "1",
                          {"mrn": "M-1"})
    deals.reveal_phi(env.admin, d.id, )
    deals.reveal_phi(env.user, d.id)
    out = tmp_path / "audit.csv"
    n = audit.export(env.admin, out, "csv")
    with out.open(newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == n
    assert {r["kind"] for r in records} == {"access", "security"}
    assert sum(1 for r in records if r["action"] == "PHI_ACCESS") == 2
    assert "M-1" not in out.read_text()
    for r in records:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "-", "@")), cell
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT count(*) FROM security_events WHERE type='AUDIT_EXPORTED'"
               )[0][0] == 1


def test_fhir_export_is_an_r4_bundle_of_audit_events(logged: Env, tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    n = audit.export(logged.admin, out, "fhir")
    bundle = json.loads(out.read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert bundle["total"] == n == len(bundle["entry"])
    events = [e["resource"] for e in bundle["entry"]]
    assert all(e["resourceType"] == "AuditEvent" for e in events)
    reads = [e for e in events if e.get("subtype", [{}])[0].get("code") == "PHI_ACCESS"]
    assert len(reads) == 4
    for e in reads:
        assert e["action"] == "R" and e["outcome"] == "0"
        assert e["entity"][0]["what"]["identifier"]["system"] == "urn:closeplan:deal"
        assert e["recorded"].endswith("Z")
        assert e["agent"][0]["requestor"] is True


def test_export_bad_targets(env: Env, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="format"):
        audit.export(env.admin, tmp_path / "a.xml", "xml")
    with pytest.raises(ValidationError, match="folder"):
        audit.export(env.admin, tmp_path, "csv")
    with pytest.raises(ValidationError, match="does not exist"):
        audit.export(env.admin, tmp_path / "no" / "a.csv", "csv")
    assert list(tmp_path.glob("*.tmp")) == [] and list(tmp_path.glob(".*.tmp")) == []


def test_a_deal_change_names_the_fields_it_changed_never_their_values(env: Env) -> None:
    d = deals.create_deal(env.user, "Old title", "ACTIVE", "100", {"mrn": "MRN-SECRET-1"})
    deals.update_deal(env.user, d.id, title="New title", status="ACTIVE", value="100.00")
    deals.update_deal(env.user, d.id, title="New title", value="250",
                      phi={"mrn": "MRN-SECRET-2"})
    deals.update_deal(env.user, d.id, title="New title")  # nothing changed
    deals.delete_deal(env.user, d.id)
    deals.restore_deal(env.user, d.id)
    rows, _ = audit.list_access(env.admin, AuditFilter(deal_id=d.id,
                                                       action=AccessAction.DEAL_UPDATE))
    assert [e.changed for e in reversed(rows)] == [
        ("title",), ("value", "phi"), (), ("deleted_at",)]
    stored = sql(env.path, "SELECT resource_type, coalesce(reason, '') FROM access_logs "
                           "WHERE deal_id=?", (d.id,))
    assert "MRN-SECRET" not in repr(stored) and "250" not in repr(stored)
    assert audit.verify(env.admin).ok  # the names are in the chained row


def test_the_deal_filter_offers_logged_deals_by_title_and_events_show_titles(
        env: Env) -> None:
    a = deals.create_deal(env.user, "Cardiology 50% rollout", "ACTIVE", "1", None)
    b = deals.create_deal(env.user, "MRI scanner", "ACTIVE", "1", None)
    assert audit.logged_deals(env.admin, "cardio") == [(a.id, a.title)]
    assert audit.logged_deals(env.admin, "50%") == [(a.id, a.title)]
    assert audit.logged_deals(env.admin, "_") == []  # a wildcard is a character here
    assert [t for _, t in audit.logged_deals(env.admin)] == [a.title, b.title]
    assert audit.deal_titles(env.admin, [a.id, "not an id", b.id]) == {
        a.id: a.title, b.id: b.title}
    with pytest.raises(PermissionDenied):
        audit.logged_deals(env.user, "")
    with pytest.raises(PermissionDenied):
        audit.deal_titles(env.user, [a.id])


def test_export_follows_the_scope_on_screen(logged: Env, tmp_path: Path) -> None:
    env = logged
    first = audit.list_access(env.admin)[0][-1]
    f = AuditFilter(deal_id=first.deal_id)
    shown = audit.list_access(env.admin, f)[1]
    target = tmp_path / "scope.csv"
    assert audit.export(env.admin, target, "csv", f, logs=(audit.ACCESS,)) == shown
    with target.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == shown and {r["deal_id"] for r in rows} == {first.deal_id}
    events = audit.list_events(env.admin)[1]
    assert audit.export(env.admin, target, "csv", logs=(audit.EVENTS,)) == events
    with pytest.raises(ValidationError, match="logs"):
        audit.export(env.admin, target, "csv", logs=("everything",))
