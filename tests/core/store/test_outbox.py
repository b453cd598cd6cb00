"""One outbox format: create, update and import write the same payload for the same
values, with every column of the row, money with two places, PHI only as an envelope."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from support import Env, sql

from closeplan_desktop.core.domain import money
from closeplan_desktop.core.store import outbox
from closeplan_desktop.core.store.models import Deal, User
from closeplan_desktop.core.usecases import deal_import, deals, users

# Columns that differ between two writes of the same values by nature.
PER_ROW = ("id", "created_at", "updated_at")


def payloads(env: Env, entity: str, entity_id: str) -> list[dict[str, Any]]:
    return [json.loads(p) for (p,) in sql(
        env.path, "SELECT payload FROM outbox WHERE entity=? AND entity_id=? ORDER BY id",
        (entity, entity_id))]


def same_values(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if k not in PER_ROW}


@pytest.mark.parametrize("value", [Decimal("7"), Decimal("7.0"), "7", 7, Decimal("7.00")])
def test_import_create_and_update_write_identical_payloads(env: Env, value: object) -> None:
    created = deals.create_deal(env.admin, "Same deal", "ACTIVE", value)  # type: ignore[arg-type]
    other = deals.create_deal(env.admin, "Other", "DRAFT", "1.50")
    deals.update_deal(env.admin, other.id, title="Same deal", status="ACTIVE", value=value)
    # Import rows as core's CSV parser makes them, and as a caller passing raw values.
    deal_import.import_deals(env.admin, [
        {"title": "Same deal", "status": "ACTIVE", "value": value, "phi": None}])
    imported_id = sql(env.path, "SELECT id FROM deals WHERE id NOT IN (?, ?)",
                      (created.id, other.id))[0][0]
    assert isinstance(imported_id, str)

    from_create = payloads(env, "deals", created.id)[0]
    from_update = payloads(env, "deals", other.id)[-1]
    from_import = payloads(env, "deals", imported_id)[0]
    assert set(from_create) == {c.key for c in Deal.__table__.columns}
    assert from_create["value"] == "7.00"
    assert same_values(from_create) == same_values(from_update) == same_values(from_import)
    # The same bytes, too: keys sorted, no spaces.
    raw = sql(env.path, "SELECT payload FROM outbox WHERE entity_id IN (?, ?) ORDER BY id",
              (created.id, imported_id))
    assert [len(r[0]) for r in raw] == [len(raw[0][0])] * 2  # type: ignore[arg-type]


def test_payload_carries_the_envelope_never_the_plaintext(env: Env) -> None:
    d = deals.create_deal(env.admin, "With PHI", "ACTIVE", "10", {"patient": "Zelda Q"})
    deal_import.import_deals(env.admin, [
        {"title": "Imported PHI", "status": "ACTIVE", "value": "10",
         "phi": {"patient": "Zelda Q"}}])
    for (payload,) in sql(env.path, "SELECT payload FROM outbox WHERE entity='deals'"):
        assert "Zelda" not in str(payload)
    (p,) = payloads(env, "deals", d.id)
    assert p["phi"] == sql(env.path, "SELECT phi FROM deals WHERE id=?", (d.id,))[0][0]
    assert p["phi_key_version"] == 1


def test_user_payloads_hold_every_column(env: Env) -> None:
    info = users.add_user(env.admin, "carol@acme-health.example", "Carol", "Jones", "USER",
                          "a long enough password")
    users.set_role(env.admin, info.id, "ADMIN")
    created, updated = payloads(env, "users", info.id)
    assert set(created) == set(updated) == {c.key for c in User.__table__.columns}
    assert (created["role"], updated["role"]) == ("USER", "ADMIN")


def test_a_bulk_writer_cannot_leave_a_column_out() -> None:
    values = {c.key: None for c in Deal.__table__.columns}
    assert json.loads(outbox.payload(Deal.__table__, values)).keys() == values.keys()
    del values["title"]
    with pytest.raises(KeyError):
        outbox.payload(Deal.__table__, values)


@pytest.mark.parametrize(("given", "text"), [
    (Decimal("7"), "7.00"), (Decimal("7.5"), "7.50"), (Decimal("0"), "0.00"),
    (Decimal("99999999999999.99"), "99999999999999.99")])
def test_money_text_has_two_places(given: Decimal, text: str) -> None:
    assert money.to_text(given) == text
    assert money.parse(text) == given


def test_each_row_keeps_what_push_sends_beside_it(env: Env) -> None:
    """A create names no base version and no fields (every field is new); a change names
    the server version it started from and the fields it changed, deals and users alike;
    an import writes creates in the same form (sync/mutations reads them)."""
    d = deals.create_deal(env.admin, "Pushed deal", "ACTIVE", "10.00", {"mrn": "P-1"})
    sql(env.path, "UPDATE deals SET row_version = 41 WHERE id = ?", (d.id,))
    deals.update_deal(env.admin, d.id, title="Renamed", phi={"mrn": "P-2"})
    deals.delete_deal(env.admin, d.id)
    deals.restore_deal(env.admin, d.id)
    users.set_role(env.admin, env.user.user_id, "ADMIN")
    users.deactivate(env.admin, env.user.user_id)
    deal_import.import_deals(env.admin, deal_import.parse_import(
        b"title,status,value\nImported,DRAFT,1.00\n"))
    rows = sql(env.path, "SELECT entity, op, base_version, fields, mid, acked_at FROM outbox "
                         "WHERE entity IN ('deals', 'users') AND (entity_id = ? OR "
                         "entity_id = ? OR op = 'create') ORDER BY id",
               (d.id, env.user.user_id))
    assert [r for r in rows if r[0] == "deals" and r[2] is not None] == [
        ("deals", "update", 41, json.dumps(["phi", "title"]), None, None),
        ("deals", "delete", 41, None, None, None),
        ("deals", "restore", 41, json.dumps(["deleted_at"]), None, None)]
    assert [r for r in rows if r[0] == "users" and r[1] == "update"] == [
        ("users", "update", 0, json.dumps(["role"]), None, None),
        ("users", "update", 0, json.dumps(["deactivated_at"]), None, None)]
    assert all(r[2] is None and r[3] is None for r in rows if r[1] == "create")
    assert sum(r[1] == "create" and r[0] == "deals" for r in rows) >= 2  # made and imported
