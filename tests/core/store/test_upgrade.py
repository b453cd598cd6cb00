"""Upgrades keep data: a workspace made at the previous schema revision, full of every
kind of row, opens with this version's migrations with every row of every table, the
PHI and the audit chain intact (issue 4, item 7).

tests/test_workspace.py::test_older_cache_is_backed_up_then_migrated checks one deal;
this test compares the full contents of every table before and after.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PREVIOUS_RELEASE,
    USER_EMAIL,
    USER_PASSWORD,
    add_legacy_tenant,
    held_phi_keys,
    keep_discarded_backups,
    make_previous_release,
    sql,
)

from closeplan_desktop.core.domain.errors import AuthError, BreakGlassRequired
from closeplan_desktop.core.security.keyring_store import DB_SLOT
from closeplan_desktop.core.store import audit_log, db, workspace
from closeplan_desktop.core.store.workspace import KNOWN_REVISIONS, SCHEMA_HEAD
from closeplan_desktop.core.usecases import audit, auth, deal_list, deals, key_admin, users

OTHER_ADMIN = "olga@other-clinic.example"
OTHER_PASSWORD = "other tenant password"

pytestmark = pytest.mark.skipif(len(KNOWN_REVISIONS) < 2, reason="only one schema revision")


def snapshot(rows_of: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), except alembic_version, SQLite's own tables
    and the FTS5 shadow tables (a migration may rebuild the index; the searches are
    compared instead). The FTS table itself is read through its content."""
    names = [r[0] for r in rows_of(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    tables = [n for n in names if n != "alembic_version" and not n.startswith("sqlite_")
              and not n.startswith("deals_fts_")]
    return {t: sorted(rows_of(f'SELECT * FROM "{t}"'), key=repr) for t in tables}


def build_previous(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A workspace as the previous release made it, with every kind of row."""
    previous = PREVIOUS_RELEASE
    facts: dict[str, Any] = {"phi": {}}
    if True:  # made by this version, then turned into the previous release's form
        with workspace.create(path) as ws:
            users.create_tenant(ws, "Acme Health", "acme-health.example",
                                ADMIN_EMAIL, "Ada", "Admin", ADMIN_PASSWORD)
            add_legacy_tenant(ws, "Other Clinic", None, OTHER_ADMIN, "Olga", "Other",
                              OTHER_PASSWORD)
            admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
            users.add_user(admin, USER_EMAIL, "Bob", "Sales", "USER", USER_PASSWORD)
            user = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
            other = auth.sign_in(ws, OTHER_ADMIN, OTHER_PASSWORD)
            with pytest.raises(AuthError):
                auth.sign_in(ws, USER_EMAIL, "not the password at all")  # a throttle row

            made = [
                (admin, "Big hospital renewal", "ACTIVE", "12345678901.23",
                 {"patient_name": "Jane Roe", "mrn": "MRN-001", "notes": "ünïcode ✓"}),
                (admin, "Clinic pilot", "DRAFT", "0.01", None),
                (admin, "Lost deal", "CLOSED_LOST", "99999999999999.99", {"diagnosis": "J45"}),
                (user, "Bob's own deal", "ACTIVE", "250000", {"insurance_id": "INS-9"}),
                (user, "Bob's plain deal", "DRAFT", "1", None),
                (other, "Other tenant deal", "CLOSED_WON", "777.70", {"mrn": "OTHER-1"}),
            ]
            ids = []
            for session, title, status, value, phi in made:
                d = deals.create_deal(session, title, status, value, phi)
                ids.append(d.id)
                if phi:
                    facts["phi"][d.id] = (session.email, phi)
            deals.update_deal(admin, ids[1], title="Clinic pilot (renamed)", value="12.50")
            deals.delete_deal(admin, ids[2])
            deals.delete_deal(user, ids[4])
            deals.restore_deal(user, ids[4])
            assert deals.reveal_phi(admin, ids[0])["mrn"] == "MRN-001"
            with pytest.raises(BreakGlassRequired):
                deals.reveal_phi(user, ids[0])  # refused: logged with success = false
            deals.reveal_phi(user, ids[0], reason="patient on the phone")  # break-glass
            key_admin.rotate_phi(admin)  # phi_keys v1 -> v2, rows re-encrypted
            deals.create_deal(admin, "After rotation", "ACTIVE", "5", {"mrn": "V2-ROW"})
            assert audit.verify(admin).ok
            phi_keys = held_phi_keys(ws)
    make_previous_release(path, phi_keys, {ADMIN_EMAIL: ADMIN_PASSWORD,
                                           USER_EMAIL: USER_PASSWORD,
                                           OTHER_ADMIN: OTHER_PASSWORD})
    assert sql(path, "SELECT version_num FROM alembic_version") == [(previous,)]
    facts["ids"] = ids
    facts["live_ids"] = [i for i in ids if i != ids[2]]
    return facts


def expected_pipeline(path: Path, tenant_email: str) -> dict[str, tuple[int, Decimal]]:
    """Count and total per status of a tenant's live deals, summed here from the rows."""
    tenant_id = sql(path, "SELECT tenant_id FROM users WHERE email = ?", (tenant_email,))[0][0]
    found: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for status, value in sql(path, "SELECT status, value FROM deals WHERE tenant_id = ? AND "
                                   "deleted_at IS NULL", (tenant_id,)):
        found[status][0] += 1
        found[status][1] += Decimal(value) / 100
    return {k: (v[0], v[1]) for k, v in found.items()}


def test_upgrade_keeps_every_row_the_phi_and_the_audit_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ws"
    facts = build_previous(path, monkeypatch)
    previous = PREVIOUS_RELEASE
    before = snapshot(lambda q: sql(path, q))
    assert all(before[t] for t in ("tenants", "users", "deals", "access_logs",
                                   "security_events", "phi_keys", "outbox", "login_throttle",
                                   "audit_heads", "workspace_meta"))
    pipeline_before = expected_pipeline(path, ADMIN_EMAIL)
    # Verify counts the rows of the admin's own tenant (issue 13, finding 2).
    admin_tenant = sql(path, "SELECT tenant_id FROM users WHERE email = ?", (ADMIN_EMAIL,))[0][0]
    tenant_rows_before = sum(
        int(sql(path, f"SELECT count(*) FROM {table} WHERE tenant_id = ?",
                (admin_tenant,))[0][0]) for table in ("access_logs", "security_events"))
    searches = {word: sql(path, "SELECT rowid FROM deals_fts WHERE deals_fts MATCH ? "
                                "ORDER BY rowid", (f'"{word}"*',))
                for word in ("hospital", "clinic", "bob", "deal", "rotation", "oth")}
    assert not (path / "backups").exists()

    # Open with this version: backup, then migrate. Nothing else is written yet. The
    # backup is removed once the upgrade checks out (issue 13, finding 1): a copy is
    # kept aside to compare.
    kept = keep_discarded_backups(tmp_path, monkeypatch)
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD
        key = ws.keyring.require(DB_SLOT, "db")
        report = audit_log.verify_workspace(ws)
        assert report.ok, report.problem
    after = snapshot(lambda q: sql(path, q))

    # Every table that existed keeps every row, value for value (columns the upgrade
    # added come last, and are left out of the comparison).
    for table, rows in before.items():
        assert table in after, f"table {table} is gone after the upgrade"
        width = len(rows[0]) if rows else 0
        kept_rows = sorted((r[:width] for r in after[table]), key=repr)
        assert kept_rows == rows, f"rows of {table} changed in the upgrade"
    # 0007_audit_upload: no receipts and no upload position yet, so an upgraded
    # workspace uploads its whole audit history at its first sync.
    assert after["audit_receipts"] == [] and after["audit_upload"] == []
    # 0008_activities: no activities yet; deals made before it have no history rows.
    assert after["deal_activities"] == [] and after["deal_history"] == []
    # Search finds the same deals.
    for word, rowids in searches.items():
        assert sql(path, "SELECT rowid FROM deals_fts WHERE deals_fts MATCH ? ORDER BY rowid",
                   (f'"{word}"*',)) == rowids, word

    # The backup is the database as it was: previous revision, same rows.
    assert not (path / "backups").exists()
    backups = list(kept.glob(f"*before-{SCHEMA_HEAD}-from-{previous}.db"))
    assert len(backups) == 1
    conn = db.raw_connect(backups[0], key)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == previous
        assert snapshot(lambda q: conn.execute(q).fetchall()) == before
    finally:
        conn.close()

    # The app works on the upgraded data: PHI, totals, the chain, new writes.
    with workspace.open_workspace(path) as ws:
        sessions = {ADMIN_EMAIL: auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD),
                    USER_EMAIL: auth.sign_in(ws, USER_EMAIL, USER_PASSWORD),
                    OTHER_ADMIN: auth.sign_in(ws, OTHER_ADMIN, OTHER_PASSWORD)}
        for deal_id, (email, phi) in facts["phi"].items():
            assert deals.reveal_phi(sessions[email], deal_id) == phi
        admin = sessions[ADMIN_EMAIL]
        got = {row.status.value: (row.count, row.total) for row in deal_list.pipeline(admin)
               if row.count}
        assert got == pipeline_before
        assert deals.get_deal(admin, facts["ids"][0]).value == Decimal("12345678901.23")
        assert deal_list.count_deals(admin) == 5
        new = deals.create_deal(admin, "Made after the upgrade", "DRAFT", "3", {"mrn": "NEW"})
        assert deals.reveal_phi(admin, new.id) == {"mrn": "NEW"}
        report = audit.verify(admin)
        assert report.ok, report.problem
        assert report.rows_checked > tenant_rows_before


def test_upgrade_from_0007_adds_activities_and_history(tmp_path: Path) -> None:
    """A workspace of revision 0007_audit_upload gains the two tables of 0008_activities,
    keeps its deals, and records activities and history from its next change on."""
    from support import UNDO_ACTIVITIES, UNDO_OWNER, UNDO_VIEWS

    from closeplan_desktop.core.usecases import activities, timeline
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        deal = deals.create_deal(admin, "Before the upgrade", "DRAFT", "5.00")
    for statement in UNDO_VIEWS + UNDO_OWNER + UNDO_ACTIVITIES:
        sql(path, statement)
    sql(path, "UPDATE alembic_version SET version_num = ?", ("0007_audit_upload",))
    deals_before = sql(path, "SELECT * FROM deals")
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert timeline.deal_history(admin, deal.id) == []
        deals.update_deal(admin, deal.id, status="ACTIVE")
        activities.add_activity(admin, deal.id, "next step", "Book the demo")
        entries = timeline.timeline(admin, deal.id)
        assert [e.activity.body if e.activity else e.history.describe()  # type: ignore[union-attr]
                for e in entries] == ["Book the demo", "Changed: Status: Draft → Active"]
    assert sql(path, "SELECT count(*) FROM deals") == [(len(deals_before),)]


def test_upgrade_from_0008_gives_every_deal_its_creator_as_owner(tmp_path: Path) -> None:
    """A workspace of revision 0008_activities gains owner (its creator), close date and
    probability (none: the status default) and weighted totals in deal_stats."""
    from support import UNDO_OWNER, UNDO_VIEWS

    from closeplan_desktop.core.usecases import forecast
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        users.add_user(admin, USER_EMAIL, "Bob", "Sales", "USER", USER_PASSWORD)
        bob = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
        mine = deals.create_deal(admin, "Admin's", "ACTIVE", "10.00")
        his = deals.create_deal(bob, "Bob's", "DRAFT", "20.00", {"mrn": "B-1"})
    for statement in UNDO_VIEWS + UNDO_OWNER:
        sql(path, statement)
    sql(path, "UPDATE alembic_version SET version_num = ?", ("0008_activities",))
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        bob = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
        got = {d.id: d for d in deal_list.list_deals(admin)}
        assert got[mine.id].owner_id == admin.user_id and got[his.id].owner_id == bob.user_id
        assert got[his.id].probability is None and got[his.id].effective_probability == 10
        assert deals.reveal_phi(bob, his.id) == {"mrn": "B-1"}
        with pytest.raises(BreakGlassRequired):
            deals.reveal_phi(bob, mine.id)
        assert forecast.forecast(admin).open.weighted == Decimal("7")  # 10 x 50% + 20 x 10%
    assert sql(path, "SELECT count(*) FROM deals WHERE owner_id = created_by_id") == [(2,)]


def test_upgrade_from_0009_owner_adds_saved_views(tmp_path: Path) -> None:
    """A workspace of revision 0009_owner gains 0010_views' table and keeps its deals;
    views are saved from then on."""
    from support import UNDO_VIEWS

    from closeplan_desktop.core.usecases import views
    from closeplan_desktop.core.usecases.deal_list import DealQuery
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        deals.create_deal(admin, "Before the upgrade", "DRAFT", "5.00")
    for statement in UNDO_VIEWS:
        sql(path, statement)
    sql(path, "UPDATE alembic_version SET version_num = ?", ("0009_owner",))
    deals_before = sql(path, "SELECT * FROM deals")
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD == "0011_board_close"
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert views.default_view(admin).name == views.ALL_DEALS
        views.save_view(admin, "Drafts", DealQuery(search="upgrade"))
        views.set_default(admin, "Drafts")
        assert views.default_view(admin).query.search == "upgrade"
    assert sql(path, "SELECT * FROM deals") == deals_before


def test_upgrade_from_0010_views_adds_the_board_close_index(tmp_path: Path) -> None:
    """A workspace of revision 0010_views gains the index that pages a board column by
    close date, and its list pages through it."""
    from support import UNDO_BOARD

    from closeplan_desktop.core.domain.enums import DealStatus
    from closeplan_desktop.core.usecases.deal_list import DealQuery
    path = tmp_path / "ws"
    with workspace.create(path) as ws:
        users.create_tenant(ws, "Acme Health", None, ADMIN_EMAIL, "Ada", "Admin",
                            ADMIN_PASSWORD)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        deals.create_deal(admin, "Before the upgrade", "DRAFT", "5.00",
                          expected_close_date="2027-01-05")
    for statement in UNDO_BOARD:
        sql(path, statement)
    sql(path, "UPDATE alembic_version SET version_num = ?", ("0010_views",))
    with workspace.open_workspace(path) as ws:
        assert workspace.schema_revision(ws.engine) == SCHEMA_HEAD
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        query = DealQuery(status=DealStatus.DRAFT, sort="expected_close_date")
        assert [d.title for d in deal_list.list_deals(admin, query)] == ["Before the upgrade"]
        page = deal_list.page_select(admin.tenant_id, query, limit=50).compile(
            ws.engine, compile_kwargs={"literal_binds": True})
        with ws.engine.connect() as conn:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {page}"))
        assert "deals_live_status_close_idx" in plan and "TEMP B-TREE" not in plan, plan
    assert sql(path, "SELECT name FROM sqlite_master WHERE name = ?",
               ("deals_live_status_close_idx",)) == [("deals_live_status_close_idx",)]
