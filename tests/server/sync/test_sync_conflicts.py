"""The conflict rules of SYNC.md, each by name, through real laptops and the real server:
two (and three) admins' laptops edit the same rows offline, then sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_support import Api
from laptop_support import PASSWORD, Laptop, connect_laptop, new_tenant, server_rows
from pg_support import ServerDb

from closeplan_desktop.core.usecases import deals, users

MAX_PASSWORD = "Quartz-Pelican-Harbor-58"


@dataclass
class Pair:
    tenant_id: str
    a: Laptop  # Ada, the tenant's first admin
    b: Laptop  # Max, a second admin on his own laptop
    max_id: str


@pytest.fixture
def pair(live: Api, server_db: ServerDb, tmp_path: Path,
         request: pytest.FixtureRequest) -> Iterator[Pair]:
    tag = request.node.name.replace("_", "-")[-30:]
    made = new_tenant(server_db, f"T {tag}", f"ada@{tag}.example")
    a = connect_laptop(live, tmp_path / "a", f"ada@{tag}.example")
    b: Laptop | None = None
    try:
        max_user = users.add_user(a.session(), f"max@{tag}.example", "Max", "Admin", "ADMIN",
                                  MAX_PASSWORD)
        a.sync()
        b = connect_laptop(live, tmp_path / "b", f"max@{tag}.example", MAX_PASSWORD,
                           approver=a)
        yield Pair(made.tenant_id, a, b, max_user.id)
    finally:
        if b is not None:
            b.close()
        a.close()


def shared_deal(p: Pair, phi: dict[str, str] | None = None) -> str:
    d = deals.create_deal(p.a.session(), "Shared deal", "ACTIVE", "100.00", phi)
    p.a.sync()
    p.b.sync()
    return d.id


def everyone(p: Pair) -> None:
    """A sync round on each laptop until both have everything."""
    p.a.sync()
    p.b.sync()
    p.a.sync()


def test_per_field_last_writer_wins(pair: Pair) -> None:
    deal_id = shared_deal(pair)
    deals.update_deal(pair.a.session(), deal_id, title="Renamed by Ada")
    deals.update_deal(pair.b.session(), deal_id, value="250.00")
    assert pair.a.sync().verdicts == {"applied": 1}
    assert pair.b.sync().verdicts == {"merged": 1}  # other fields: both kept
    pair.a.sync()
    for laptop in (pair.a, pair.b):
        d = deals.get_deal(laptop.session(), deal_id)
        assert (d.title, str(d.value)) == ("Renamed by Ada", "250.00")
        assert laptop.rows("SELECT count(*) FROM sync_conflicts") == [(0,)]


def test_both_changed_is_recorded(pair: Pair) -> None:
    deal_id = shared_deal(pair)
    deals.update_deal(pair.a.session(), deal_id, title="Ada's title")
    deals.update_deal(pair.b.session(), deal_id, title="Max's title")
    pair.a.sync()
    result = pair.b.sync()
    assert result.verdicts == {"conflict": 1} and result.conflicts == 1
    pair.a.sync()
    for laptop in (pair.a, pair.b):  # the later arrival wins; the loser is kept
        assert deals.get_deal(laptop.session(), deal_id).title == "Max's title"
        assert laptop.rows("SELECT field, kept_value, losing_value FROM sync_conflicts "
                           "WHERE row_id = ?", (deal_id,)) == [
            ("title", json.dumps("Max's title"), json.dumps("Ada's title"))]


def test_phi_losing_envelope_is_kept(pair: Pair) -> None:
    deal_id = shared_deal(pair, {"mrn": "ORIGINAL"})
    deals.update_deal(pair.a.session(), deal_id, phi={"mrn": "ADA-WROTE"})
    deals.update_deal(pair.b.session(), deal_id, phi={"mrn": "MAX-WROTE"})
    pair.a.sync()
    assert pair.b.sync().conflicts == 1
    pair.a.sync()
    for laptop in (pair.a, pair.b):
        assert deals.reveal_phi(laptop.session(), deal_id) == {"mrn": "MAX-WROTE"}
        rows = laptop.rows("SELECT field, losing_value FROM sync_conflicts WHERE row_id = ?",
                           (deal_id,))
        assert len(rows) == 1 and rows[0][0] == "phi"
        losing = str(rows[0][1])
        assert "ADA-WROTE" not in losing  # an envelope, never plaintext
        envelope = json.loads(losing)
        assert envelope["phi_key_version"] == 1 and set(json.loads(envelope["phi"])) == \
            {"v", "k", "n", "c"}


def test_delete_beats_a_concurrent_edit(pair: Pair, server_db: ServerDb) -> None:
    deal_id = shared_deal(pair)
    deals.delete_deal(pair.a.session(), deal_id)
    deals.update_deal(pair.b.session(), deal_id, title="Edited while deleted")
    pair.a.sync()
    assert pair.b.sync().conflicts == 1  # the edit is kept, flagged, not applied
    pair.a.sync()
    assert server_rows(server_db, pair.tenant_id, "SELECT title, deleted_at IS NOT NULL "
                       "FROM deals WHERE tenant_id = %s AND id = %s", (deal_id,)) == [
        ("Shared deal", True)]
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT title, deleted_at IS NOT NULL FROM deals WHERE id = ?",
                           (deal_id,)) == [("Shared deal", 1)]
        assert laptop.rows("SELECT losing_value FROM sync_conflicts WHERE row_id = ?",
                           (deal_id,)) == [(json.dumps("Edited while deleted"),)]


def test_restore_is_explicit(pair: Pair) -> None:
    deal_id = shared_deal(pair)
    deals.delete_deal(pair.a.session(), deal_id)
    everyone(pair)
    deals.restore_deal(pair.b.session(), deal_id)
    assert pair.b.sync().verdicts == {"applied": 1}
    pair.a.sync()
    assert deals.get_deal(pair.a.session(), deal_id).deleted_at is None


def test_a_duplicate_email_is_rejected_visibly(pair: Pair) -> None:
    # Both admins add a user with the same email offline: the second to arrive loses.
    first = users.add_user(pair.a.session(), "new.rep@example.org", "Nia", "Rep", "USER",
                           PASSWORD)
    second = users.add_user(pair.b.session(), "new.rep@example.org", "Nico", "Rep", "USER",
                            PASSWORD)
    assert pair.a.sync().verdicts == {"applied": 1}
    result = pair.b.sync()
    assert result.rejections == 1
    rows = pair.b.rows("SELECT table_name, row_id, op, code, message FROM sync_rejections")
    assert len(rows) == 1 and rows[0][:4] == ("users", second.id, "create", "email_taken")
    assert "email" in str(rows[0][4]).lower()
    # The refused user is not usable here; the server's user arrived instead.
    assert pair.b.rows("SELECT deactivated_at IS NOT NULL FROM users WHERE id = ?",
                       (second.id,)) == [(1,)]
    assert pair.b.rows("SELECT first_name FROM users WHERE id = ?", (first.id,)) == [("Nia",)]


def test_a_demoted_admins_offline_user_change_is_rejected_visibly(pair: Pair) -> None:
    rep = users.add_user(pair.a.session(), "rep@demote.example", "Rita", "Rep", "USER",
                         PASSWORD)
    everyone(pair)
    users.set_role(pair.a.session(), pair.max_id, "USER")  # Ada demotes Max ...
    users.set_role(pair.b.session(), rep.id, "ADMIN")  # ... while Max promotes Rita offline
    pair.a.sync()
    result = pair.b.sync()
    assert result.rejections == 1
    assert pair.b.rows("SELECT code FROM sync_rejections") == [("forbidden",)]
    pair.a.sync()
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT role FROM users WHERE id = ?", (pair.max_id,)) == [("USER",)]
    for laptop in (pair.a, pair.b):  # Max's refused promotion is undone on his laptop
        assert laptop.rows("SELECT role FROM users WHERE id = ?", (rep.id,)) == [("USER",)]
