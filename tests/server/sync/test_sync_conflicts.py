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

from closeplan_desktop.core.sync import engine, review
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


def _ada_id(p: Pair) -> str:
    return engine.require_connected(p.a.ws).user_id


def _active_admins(server_db: ServerDb, p: Pair) -> list[tuple[object, ...]]:
    return server_rows(server_db, p.tenant_id, "SELECT id FROM users WHERE tenant_id = %s "
                       "AND role = 'ADMIN' AND deactivated_at IS NULL ORDER BY id")


def test_last_admin_two_admins_demote_each_other_offline(pair: Pair,
                                                        server_db: ServerDb) -> None:
    # Each laptop still sees two admins, so each demotion is allowed offline; together
    # they would leave the organisation without one.
    ada_id = _ada_id(pair)
    users.set_role(pair.a.session(), pair.max_id, "USER")
    users.set_role(pair.b.session(), ada_id, "USER")
    assert pair.a.sync().verdicts == {"applied": 1}
    result = pair.b.sync()
    assert result.rejections == 1 and result.verdicts == {"rejected": 1}
    # Max sees the refusal, in the server's words, and his demotion of Ada is undone.
    shown = review.list_rejections(pair.b.session())
    assert len(shown) == 1 and shown[0].op == "update" and "admin" in shown[0].reason
    assert pair.b.rows("SELECT table_name, row_id, code FROM sync_rejections") == [
        ("users", ada_id, "forbidden")]
    pair.a.sync()
    assert _active_admins(server_db, pair) == [(ada_id,)]
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT id, role FROM users WHERE id IN (?, ?) ORDER BY id",
                           (ada_id, pair.max_id)) == sorted([(ada_id, "ADMIN"),
                                                             (pair.max_id, "USER")])


def test_last_admin_when_a_deactivation_and_demotions_cross(
        pair: Pair, server_db: ServerDb) -> None:
    # A third admin without a laptop: Ada deactivates her and demotes Max, while Max
    # demotes Ada; all three at once would leave nobody.
    otto = users.add_user(pair.a.session(), f"otto-{pair.tenant_id}@crossing.example",
                          "Otto", "Admin", "ADMIN", PASSWORD)
    everyone(pair)
    ada_id = _ada_id(pair)
    users.deactivate(pair.a.session(), otto.id)
    users.set_role(pair.a.session(), pair.max_id, "USER")
    users.set_role(pair.b.session(), ada_id, "USER")
    assert pair.a.sync().verdicts == {"applied": 2}
    assert pair.b.sync().verdicts == {"rejected": 1}
    assert [r.op for r in review.list_rejections(pair.b.session())] == ["update"]
    pair.a.sync()
    assert _active_admins(server_db, pair) == [(ada_id,)]
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT role, deactivated_at IS NOT NULL FROM users WHERE id = ?",
                           (ada_id,)) == [("ADMIN", 0)]
        assert laptop.rows("SELECT deactivated_at IS NOT NULL FROM users WHERE id = ?",
                           (otto.id,)) == [(1,)]


def test_no_self_demotion_offline_is_refused_visibly(pair: Pair) -> None:
    # The laptop lets an admin step down while another admin remains; the server keeps
    # the rule that only another admin removes an admin's role.
    users.set_role(pair.b.session(), pair.max_id, "USER")
    result = pair.b.sync()
    assert result.verdicts == {"rejected": 1}
    assert pair.b.rows("SELECT code FROM sync_rejections") == [("self_demotion",)]
    assert len(review.list_rejections(pair.b.session())) == 1
    pair.a.sync()
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT role FROM users WHERE id = ?", (pair.max_id,)) == [
            ("ADMIN",)]


def _deactivated_rep(p: Pair) -> str:
    rep = users.add_user(p.a.session(), f"rep-{p.tenant_id}@reactivate.example", "Rhea",
                         "Rep", "USER", PASSWORD)
    users.deactivate(p.a.session(), rep.id)
    everyone(p)
    return rep.id


def test_deactivation_beats_an_unseen_reactivation(pair: Pair, server_db: ServerDb) -> None:
    rep_id = _deactivated_rep(pair)
    # Max reactivates offline; meanwhile Ada reactivates and deactivates again: Max's
    # reactivation never saw that deactivation, so it loses.
    users.reactivate(pair.b.session(), rep_id)
    users.reactivate(pair.a.session(), rep_id)
    users.deactivate(pair.a.session(), rep_id)
    assert pair.a.sync().verdicts == {"applied": 2}
    result = pair.b.sync()
    assert result.verdicts == {"conflict": 1} and result.conflicts == 1
    pair.a.sync()
    assert server_rows(server_db, pair.tenant_id, "SELECT deactivated_at IS NOT NULL FROM "
                       "users WHERE tenant_id = %s AND id = %s", (rep_id,)) == [(True,)]
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT deactivated_at IS NOT NULL FROM users WHERE id = ?",
                           (rep_id,)) == [(1,)]
    # Max sees why: the deactivation was kept, his reactivation lost.
    shown = review.list_conflicts(pair.b.session())
    assert [(c.field, c.row_id) for c in shown] == [("Deactivated", rep_id)]
    assert [tuple(json.loads(v) for v in r) for r in pair.b.rows(
        "SELECT kept_value, losing_value FROM sync_conflicts WHERE row_id = ?", (rep_id,))] \
        == [({"deactivated": True}, {"deactivated": False})]


def test_a_reactivation_that_saw_the_deactivation_wins(pair: Pair,
                                                       server_db: ServerDb) -> None:
    rep_id = _deactivated_rep(pair)  # both laptops saw the deactivation
    users.reactivate(pair.b.session(), rep_id)
    assert pair.b.sync().verdicts == {"applied": 1}
    pair.a.sync()
    assert server_rows(server_db, pair.tenant_id, "SELECT deactivated_at IS NULL FROM "
                       "users WHERE tenant_id = %s AND id = %s", (rep_id,)) == [(True,)]
    for laptop in (pair.a, pair.b):
        assert laptop.rows("SELECT deactivated_at IS NULL FROM users WHERE id = ?",
                           (rep_id,)) == [(1,)]
        assert laptop.rows("SELECT count(*) FROM sync_conflicts") == [(0,)]
