"""Export of a deal list as CSV (issue 15): the view's rows in its order by keyset pages,
no PHI unless asked, PHI logged per deal before it is written, withheld deals for a
rep, CSV injection neutralized, no partial file after a cancel or a failure."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from support import Env, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import StorageError, ValidationError
from closeplan_desktop.core.domain.progress import Cancelled, CancelToken
from closeplan_desktop.core.usecases import deal_export, deals
from closeplan_desktop.core.usecases.deal_list import DealQuery

PHI_ROWS = "SELECT count(*) FROM access_logs WHERE action = 'PHI_ACCESS'"


def read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def events(env: Env) -> list[str]:
    env.ws.engine.dispose()
    return [str(r[0]) for r in sql(env.path, "SELECT detail FROM security_events WHERE "
                                             "type = 'DEALS_EXPORTED' ORDER BY seq")]


def test_export_without_phi_in_the_lists_order_by_pages(env: Env, tmp_path: Path) -> None:
    made = [deals.create_deal(env.admin, f"Deal {i:02}", "ACTIVE" if i % 2 else "DRAFT",
                              f"{i}.50", {"mrn": f"MRN-SECRET-{i}"}) for i in range(25)]
    out = tmp_path / "active.csv"
    seen: list[tuple[int, int | None]] = []
    query = DealQuery(status=DealStatus.ACTIVE, sort="title", descending=False)
    result = deal_export.export_deals(env.admin, query, out, page=4,
                                      progress=lambda d, t: seen.append((d, t)))
    rows = read(out)
    assert rows[0][:4] == ["ID", "Title", "Status", "Value"]
    assert [r[1] for r in rows[1:]] == [f"Deal {i:02}" for i in range(1, 25, 2)]
    assert rows[1][3] == "1.50" and rows[1][2] == "ACTIVE"
    assert result.rows == 12 and result.with_phi == 0
    assert seen[0] == (0, 12) and seen[-1] == (12, 12) and len(seen) > 3
    assert b"MRN-SECRET" not in out.read_bytes()
    env.ws.engine.dispose()
    assert sql(env.path, PHI_ROWS) == [(0,)]
    assert '"with_phi":false' in events(env)[0]
    assert (os.stat(out).st_mode & 0o777) == 0o600
    assert made


def test_search_and_deleted_views_export_their_rows(env: Env, tmp_path: Path) -> None:
    keep = deals.create_deal(env.admin, "Cardiology suite", "ACTIVE", "10.00")
    gone = deals.create_deal(env.admin, "Cardiology old", "ACTIVE", "10.00")
    deals.create_deal(env.admin, "Radiology", "ACTIVE", "10.00")
    deals.delete_deal(env.admin, gone.id)
    deal_export.export_deals(env.admin, DealQuery(search="cardio"), tmp_path / "s.csv", page=1)
    assert [r[0] for r in read(tmp_path / "s.csv")[1:]] == [keep.id]
    deal_export.export_deals(env.admin, DealQuery(deleted=True), tmp_path / "d.csv")
    deleted = read(tmp_path / "d.csv")
    assert deleted[0][-1] == "Deleted (UTC)" and [r[0] for r in deleted[1:]] == [gone.id]


def test_export_with_phi_logs_one_row_per_deal_and_withholds_others(
        env: Env, tmp_path: Path) -> None:
    own = [deals.create_deal(env.user, f"Rep deal {i}", "ACTIVE", "1.00",
                             {"mrn": f"MRN-{i}", "notes": "=HYPERLINK(\"x\")", "ward": "3"})
           for i in range(3)]
    plain = deals.create_deal(env.user, "Rep deal without PHI", "ACTIVE", "1.00")
    others = [deals.create_deal(env.admin, f"Admin deal {i}", "ACTIVE", "1.00",
                                {"mrn": f"ADMIN-MRN-{i}"}) for i in range(2)]
    out = tmp_path / "phi.csv"
    result = deal_export.export_deals(env.user, DealQuery(sort="title", descending=False),
                                      out, with_phi=True, reason="Quarterly review",
                                      page=2)
    assert (result.rows, result.with_phi, result.withheld) == (6, 3, 2)
    assert "withheld" in result.summary()
    text = out.read_text(encoding="utf-8")
    assert "MRN-0" in text and "ADMIN-MRN" not in text
    rows = {r[1]: r for r in read(out)[1:]}
    header = read(out)[0]
    assert header[-1] == "Other PHI" and "Medical record number" in header
    assert rows["Admin deal 0"][len(deal_export.COLUMNS)] == deal_export.WITHHELD
    assert rows["Rep deal without PHI"][len(deal_export.COLUMNS):] == []
    # A PHI value that looks like a formula is neutralized too.
    phi_cells = dict(zip(header, rows["Rep deal 0"], strict=True))
    assert phi_cells["Clinical notes"] == "'=HYPERLINK(\"x\")"
    assert phi_cells["Other PHI"] == '{"ward": "3"}' and phi_cells["PHI"] == "exported"
    env.ws.engine.dispose()
    logged = sql(env.path, "SELECT deal_id, reason, user_id, success FROM access_logs "
                           "WHERE action = 'PHI_ACCESS' ORDER BY seq")
    assert sorted(r[0] for r in logged) == sorted(d.id for d in own)
    assert {(r[1], r[2], r[3]) for r in logged} == {("Quarterly review", env.user.user_id, 1)}
    assert '"phi":3' in events(env)[0] and '"withheld":2' in events(env)[0]
    assert plain and others


def test_owner_close_date_and_a_reassigned_deals_phi(env: Env, tmp_path: Path) -> None:
    handed = deals.create_deal(env.user, "Handed over", "ACTIVE", "1.00", {"mrn": "H-1"})
    deals.create_deal(env.user, "Kept", "ACTIVE", "2.00", {"mrn": "K-1"})
    deals.update_deal(env.user, handed.id, expected_close_date="2026-12-24", probability=70)
    deals.reassign_deal(env.user, handed.id, env.admin.user_id)
    out = tmp_path / "mine.csv"
    mine = DealQuery(owner_id=env.user.user_id)
    result = deal_export.export_deals(env.user, mine, out, with_phi=True, reason="Review")
    assert (result.rows, result.with_phi) == (1, 1)
    result = deal_export.export_deals(env.user, DealQuery(sort="title", descending=False),
                                      out, with_phi=True, reason="Review")
    assert (result.rows, result.with_phi, result.withheld) == (2, 1, 1)
    rows = read(out)
    cells = dict(zip(rows[0], rows[1], strict=False))
    assert cells["Title"] == "Handed over" and cells["Owner"] == "Ada Admin"
    assert cells["Expected close"] == "2026-12-24" and cells["Probability (%)"] == "70"
    assert cells["PHI"] == deal_export.WITHHELD
    assert "H-1" not in out.read_text(encoding="utf-8")


def test_phi_export_needs_a_reason(env: Env, tmp_path: Path) -> None:
    deals.create_deal(env.user, "Rep deal", "ACTIVE", "1.00", {"mrn": "MRN-1"})
    folder = tmp_path / "out"
    folder.mkdir()
    for reason in (None, "   "):
        with pytest.raises(ValidationError, match="needs a reason"):
            deal_export.export_deals(env.user, DealQuery(), folder / "x.csv",
                                     with_phi=True, reason=reason)
    assert not list(folder.iterdir())
    env.ws.engine.dispose()
    assert sql(env.path, PHI_ROWS) == [(0,)]


def test_an_admin_exports_everyones_phi(env: Env, tmp_path: Path) -> None:
    deals.create_deal(env.user, "Rep deal", "ACTIVE", "1.00", {"mrn": "MRN-1"})
    result = deal_export.export_deals(env.admin, DealQuery(), tmp_path / "a.csv",
                                      with_phi=True, reason="Audit")
    assert (result.with_phi, result.withheld) == (1, 0)


def test_csv_injection_is_neutralized(env: Env, tmp_path: Path) -> None:
    for title in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "Plain"):
        deals.create_deal(env.admin, title, "ACTIVE", "1.00")
    deal_export.export_deals(env.admin, DealQuery(sort="title", descending=False),
                             tmp_path / "i.csv", excel_bom=True)
    raw = (tmp_path / "i.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    titles = sorted(r[1] for r in read(tmp_path / "i.csv")[1:])
    assert titles == sorted(["'=1+2", "'+cmd", "'-2+3", "'@SUM(A1)", "Plain"])
    assert deal_export.neutralize("\tx") == "'\tx"


def test_cancel_leaves_no_file(env: Env, tmp_path: Path) -> None:
    for i in range(10):
        deals.create_deal(env.user, f"Deal {i}", "ACTIVE", "1.00", {"mrn": f"M{i}"})
    token = CancelToken()

    def progress(done: int, total: int | None) -> None:
        if done >= 4:
            token.cancel()

    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "c.csv"
    out.write_text("an older file stays as it was")
    with pytest.raises(Cancelled):
        deal_export.export_deals(env.user, DealQuery(), out, page=2, progress=progress,
                                 cancel=token, with_phi=True, reason="Review")
    assert out.read_text() == "an older file stays as it was"
    assert [p.name for p in folder.iterdir()] == ["c.csv"]
    # The PHI logged before the cancel is said in the export's event.
    assert '"completed":false' in events(env)[0]
    assert sql(env.path, PHI_ROWS) == [(4,)]


def test_destination_errors_are_clear(env: Env, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        deal_export.export_deals(env.user, DealQuery(), tmp_path / "nope" / "x.csv")
    with pytest.raises(StorageError, match="is a folder"):
        deal_export.export_deals(env.user, DealQuery(), tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores modes: a read-only mount instead
            return
        with pytest.raises(StorageError, match="may not write there"):
            deal_export.export_deals(env.user, DealQuery(), locked / "x.csv")
    finally:
        locked.chmod(0o700)
