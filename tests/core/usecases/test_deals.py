"""Deal use cases: permissions, tenant isolation, lists in SQL, PHI reveal and its audit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from support import Env, add_legacy_tenant, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import (
    BreakGlassRequired,
    CryptoError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from closeplan_desktop.core.security import crypto
from closeplan_desktop.core.store import audit_log
from closeplan_desktop.core.usecases import auth, deal_import, deal_list, deals, frame
from closeplan_desktop.core.usecases.deal_list import DealQuery

PHI = {"patient_name": "Zelda Quintero-Marsh", "mrn": "MRN-771204"}


def rows(env: Env, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    env.ws.engine.dispose()
    return sql(env.path, query, params)


def phi_reads(env: Env, deal_id: str) -> list[tuple[object, ...]]:
    return rows(env, "SELECT success, reason, user_id FROM access_logs WHERE deal_id=? AND "
                     "action='PHI_ACCESS' AND access_type='READ' ORDER BY seq", (deal_id,))


def second_tenant(env: Env) -> frame.AuthSession:
    add_legacy_tenant(env.ws, "Other Clinic", "other.example", "eve@other.example", "Eve",
                      "Other", "other tenant password")
    return auth.sign_in(env.ws, "eve@other.example", "other tenant password")


def test_value_round_trips_exactly_and_totals_are_exact(env: Env) -> None:
    d = deals.create_deal(env.admin, "Big one", "ACTIVE", Decimal("12345678901.23"))
    deals.create_deal(env.admin, "Cents", "ACTIVE", "0.10")
    deals.create_deal(env.admin, "Cents 2", "ACTIVE", "0.20")
    assert deals.get_deal(env.admin, d.id).value == Decimal("12345678901.23")
    active = {p.status: p for p in deal_list.pipeline(env.admin)}[DealStatus.ACTIVE]
    assert active.count == 3 and active.total == Decimal("12345678901.53")
    assert rows(env, "SELECT value, typeof(value) FROM deals WHERE id=?", (d.id,)) == [
        (1234567890123, "integer")]


def test_pipeline_of_a_query_totals_what_the_list_holds(env: Env) -> None:
    deals.create_deal(env.admin, "Knee implants", "ACTIVE", "100.10")
    deals.create_deal(env.admin, "Hip implants", "DRAFT", "20")
    gone = deals.create_deal(env.admin, "Knee braces", "ACTIVE", "5")
    deals.delete_deal(env.admin, gone.id)

    def totals(query: DealQuery) -> dict[DealStatus, tuple[int, Decimal]]:
        return {p.status: (p.count, p.total) for p in deal_list.pipeline(env.admin, query)
                if p.count}

    assert totals(DealQuery(search="knee")) == {DealStatus.ACTIVE: (1, Decimal("100.10"))}
    assert totals(DealQuery(status=DealStatus.DRAFT)) == {DealStatus.DRAFT: (1, Decimal("20"))}
    assert totals(DealQuery(deleted=True)) == {DealStatus.ACTIVE: (1, Decimal("5"))}
    assert totals(DealQuery()) == {p.status: (p.count, p.total)
                                   for p in deal_list.pipeline(env.admin) if p.count}


def test_pipeline_total_stays_exact_past_64_bit_sums(env: Env) -> None:
    big = Decimal("99999999999999.99")
    rows_in = [{"title": f"Huge {i}", "status": DealStatus.CLOSED_WON, "value": big, "phi": None}
               for i in range(1000)]
    deal_import.import_deals(env.admin, rows_in)
    won = {p.status: p for p in deal_list.pipeline(env.admin)}[DealStatus.CLOSED_WON]
    assert won.total == big * 1000 and won.count == 1000


def test_create_writes_log_and_outbox_in_its_transaction(env: Env) -> None:
    d = deals.create_deal(env.user, "Infusion pumps", "DRAFT", "5000", PHI)
    assert rows(env, "SELECT action, access_type, success FROM access_logs WHERE deal_id=?",
                (d.id,)) == [("DEAL_CREATE", "WRITE", 1)]
    (payload,) = rows(env, "SELECT payload FROM outbox WHERE entity='deals' AND entity_id=?",
                      (d.id,))[0]
    data = json.loads(payload)
    assert data["title"] == "Infusion pumps" and data["value"] == "5000.00"
    assert "Zelda" not in payload  # the outbox carries the envelope, never plaintext


def test_phi_is_stored_as_an_envelope_bound_to_its_deal(env: Env) -> None:
    a = deals.create_deal(env.admin, "A", "ACTIVE", "1", PHI)
    b = deals.create_deal(env.admin, "B", "ACTIVE", "1", {"mrn": "other"})
    envelope = rows(env, "SELECT phi FROM deals WHERE id=?", (a.id,))[0][0]
    assert "Zelda" not in envelope and json.loads(envelope)["k"] == 1
    # Moving the ciphertext to another deal makes it fail, not decrypt.
    env.ws.engine.dispose()
    sql(env.path, "UPDATE deals SET phi=? WHERE id=?", (envelope, b.id))
    with pytest.raises(CryptoError, match="failed authentication"):
        deals.reveal_phi(env.admin, b.id)
    assert phi_reads(env, b.id) == [(0, None, env.admin.user_id)]


def test_reveal_logs_exactly_one_row_committed(env: Env) -> None:
    d = deals.create_deal(env.user, "Dialysis chairs", "ACTIVE", "100", PHI)
    assert deals.reveal_phi(env.user, d.id) == PHI
    assert phi_reads(env, d.id) == [(1, None, env.user.user_id)]
    assert deals.reveal_phi(env.admin, d.id) == PHI
    assert len(phi_reads(env, d.id)) == 2


def test_user_needs_break_glass_for_another_users_deal(env: Env) -> None:
    d = deals.create_deal(env.admin, "Admin's deal", "ACTIVE", "100", PHI)
    with pytest.raises(BreakGlassRequired, match="give a reason"):
        deals.reveal_phi(env.user, d.id)
    assert phi_reads(env, d.id) == [(0, None, env.user.user_id)]
    with pytest.raises(BreakGlassRequired):
        deals.reveal_phi(env.user, d.id, reason="   ")
    assert deals.reveal_phi(env.user, d.id, reason="ER called: allergy check") == PHI
    assert phi_reads(env, d.id)[-1] == (1, "ER called: allergy check", env.user.user_id)
    assert rows(env, "SELECT count(*) FROM security_events WHERE type='BREAK_GLASS'")[0][0] == 1
    with pytest.raises(ValidationError, match="Reason"):
        deals.reveal_phi(env.user, d.id, reason="x" * 501)


def test_only_owner_or_admin_edits_deletes_restores(env: Env) -> None:
    d = deals.create_deal(env.admin, "Admin's", "ACTIVE", "100")
    for op in (lambda: deals.update_deal(env.user, d.id, title="Mine now"),
               lambda: deals.delete_deal(env.user, d.id),
               lambda: deals.restore_deal(env.user, d.id)):
        with pytest.raises(PermissionDenied, match="owner or an administrator"):
            op()
    assert rows(env, "SELECT count(*) FROM access_logs WHERE deal_id=? AND success=0",
                (d.id,))[0][0] == 3
    mine = deals.create_deal(env.user, "Bob's", "DRAFT", "1")
    assert deals.update_deal(env.user, mine.id, title="Bob's v2", value="2.50").value == \
        Decimal("2.50")
    assert deals.update_deal(env.admin, mine.id, status="CLOSED_WON").status == \
        DealStatus.CLOSED_WON


def test_delete_is_a_tombstone_and_restore_brings_it_back(env: Env) -> None:
    d = deals.create_deal(env.user, "To delete", "ACTIVE", "100", PHI)
    deals.delete_deal(env.user, d.id)
    assert d.id not in [x.id for x in deal_list.list_deals(env.user)]
    assert [x.id for x in deal_list.list_deals(env.user, DealQuery(deleted=True))] == [d.id]
    assert rows(env, "SELECT deleted_at IS NOT NULL FROM deals WHERE id=?", (d.id,)) == [(1,)]
    with pytest.raises(ValidationError, match="restore it"):
        deals.update_deal(env.user, d.id, title="x")
    deals.restore_deal(env.user, d.id)
    assert d.id in [x.id for x in deal_list.list_deals(env.user)]
    acts = [r[0] for r in rows(env, "SELECT action FROM access_logs WHERE deal_id=? "
                                    "ORDER BY seq", (d.id,))]
    assert acts == ["DEAL_CREATE", "DEAL_DELETE", "DEAL_UPDATE"]
    ops = [r[0] for r in rows(env, "SELECT op FROM outbox WHERE entity_id=? ORDER BY id",
                              (d.id,))]
    assert ops == ["create", "delete", "restore"]


def test_other_tenant_is_missing_and_logged_as_denied(env: Env) -> None:
    eve = second_tenant(env)
    theirs = deals.create_deal(eve, "Other clinic deal", "ACTIVE", "7", {"mrn": "secret"})
    for op in (lambda: deals.get_deal(env.admin, theirs.id),
               lambda: deals.reveal_phi(env.admin, theirs.id),
               lambda: deals.update_deal(env.admin, theirs.id, title="x"),
               lambda: deals.delete_deal(env.admin, theirs.id)):
        with pytest.raises(NotFoundError, match="No such deal") as e:
            op()
        assert "Other clinic" not in str(e.value)
    denied = rows(env, "SELECT tenant_id, success FROM access_logs WHERE deal_id=? AND "
                       "user_id=?", (theirs.id, env.admin.user_id))
    assert denied == [(env.tenant_id, 0)] * 3  # the plain read is a security event
    assert theirs.id not in [d.id for d in deal_list.list_deals(env.admin, limit=1000)]
    assert deal_list.list_deals(env.admin, DealQuery(search="clinic")) == []
    assert deal_list.count_deals(env.admin) == 0
    assert all(p.count == 0 for p in deal_list.pipeline(env.admin))
    # A made-up id answers the same and is logged as a security event.
    with pytest.raises(NotFoundError, match="No such deal"):
        deals.get_deal(env.admin, "c" + "0" * 24)
    with pytest.raises(NotFoundError):
        deals.get_deal(env.admin, "'; DROP TABLE deals; --")
    assert rows(env, "SELECT count(*) FROM security_events WHERE type='ACCESS_DENIED'")[0][0] == 3


def test_list_sort_status_filter_and_paging_run_in_sql(env: Env) -> None:
    for i, (status, value) in enumerate([("DRAFT", "30"), ("ACTIVE", "10"), ("ACTIVE", "20"),
                                         ("CLOSED_WON", "5")]):
        deals.create_deal(env.admin, f"Deal {chr(65 + i)}", status, value)
    by_value = deal_list.list_deals(env.admin, DealQuery(sort="value", descending=False))
    assert [d.value for d in by_value] == [Decimal(v) for v in ("5", "10", "20", "30")]
    active = deal_list.list_deals(env.admin, DealQuery(status=DealStatus.ACTIVE, sort="title",
                                                   descending=False))
    assert [d.title for d in active] == ["Deal B", "Deal C"]
    assert deal_list.count_deals(env.admin, DealQuery(status=DealStatus.ACTIVE)) == 2
    page = deal_list.list_deals(env.admin, DealQuery(sort="title", descending=False), offset=1,
                            limit=2)
    assert [d.title for d in page] == ["Deal B", "Deal C"]
    with pytest.raises(ValidationError, match="Sort"):
        deal_list.list_deals(env.admin, DealQuery(sort="phi"))
    with pytest.raises(ValidationError, match="limit"):
        deal_list.list_deals(env.admin, limit=0)
    with pytest.raises(ValidationError, match="offset"):
        deal_list.list_deals(env.admin, offset=-1)


@pytest.mark.parametrize("search", ['"', "*", "NEAR(", "a OR b", "title:x", "'; --", "^",
                                    "AND", "(", "\u202e", "💉"])
def test_search_survives_fts_syntax_and_injection(env: Env, search: str) -> None:
    deals.create_deal(env.admin, "MRI scanner – St. Mary's", "ACTIVE", "1")
    assert isinstance(deal_list.list_deals(env.admin, DealQuery(search=search)), list)


def test_search_is_prefix_full_text_over_titles(env: Env) -> None:
    deals.create_deal(env.admin, "MRI scanner – St. Mary's Medical Center", "ACTIVE", "1")
    deals.create_deal(env.admin, "Infusion pumps – Mercy Regional", "ACTIVE", "1")
    deals.create_deal(env.admin, "Café équipement – Hôpital Nord", "ACTIVE", "1")
    assert [d.title[:3] for d in deal_list.list_deals(env.admin, DealQuery(search="mar med"))] == \
        ["MRI"]
    assert len(deal_list.list_deals(env.admin, DealQuery(search="hopital"))) == 1
    assert deal_list.list_deals(env.admin, DealQuery(search="zzz")) == []
    d = deal_list.list_deals(env.admin, DealQuery(search="infusion"))[0]
    deals.update_deal(env.admin, d.id, title="Ventilators – Mercy Regional")
    assert deal_list.list_deals(env.admin, DealQuery(search="infusion")) == []
    assert len(deal_list.list_deals(env.admin, DealQuery(search="ventil"))) == 1


def test_lists_never_decrypt(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    deals.create_deal(env.admin, "With PHI", "ACTIVE", "1", PHI)

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("decrypt called by a list")

    monkeypatch.setattr(crypto, "decrypt_phi", boom)
    assert deal_list.list_deals(env.admin)[0].has_phi
    deal_list.pipeline(env.admin)
    deal_list.count_deals(env.admin)


def test_edit_phi_replaces_and_clears(env: Env) -> None:
    d = deals.create_deal(env.admin, "Edit PHI", "ACTIVE", "1", PHI)
    deals.update_deal(env.admin, d.id, phi={"mrn": "NEW-1"})
    assert deals.reveal_phi(env.admin, d.id) == {"mrn": "NEW-1"}
    deals.update_deal(env.admin, d.id, phi=None)
    assert not deals.get_deal(env.admin, d.id).has_phi
    assert rows(env, "SELECT phi, phi_key_version FROM deals WHERE id=?", (d.id,)) == [
        (None, None)]


@pytest.mark.parametrize("kwargs", [
    {"title": ""}, {"title": "x" * 300}, {"status": "WON"}, {"value": "-5"},
    {"value": "1.001"}, {"value": float("nan")}, {"phi": '{"a": NaN}'}, {"phi": "{"},
])
def test_bad_input_leaves_the_deal_as_it_was(env: Env, kwargs: dict[str, object]) -> None:
    d = deals.create_deal(env.admin, "Stable", "ACTIVE", "10.00", PHI)
    before = rows(env, "SELECT * FROM deals")
    with pytest.raises(ValidationError):
        deals.update_deal(env.admin, d.id, **kwargs)
    assert rows(env, "SELECT * FROM deals") == before


def test_audit_of_a_denied_attempt_never_shows_the_other_tenants_title(env: Env) -> None:
    from closeplan_desktop.core.usecases import audit

    eve = second_tenant(env)
    theirs = deals.create_deal(eve, "Other clinic secret project", "ACTIVE", "7")
    with pytest.raises(NotFoundError):
        deals.update_deal(env.admin, theirs.id, title="mine")
    entries, _ = audit.list_access(env.admin, audit.AuditFilter(deal_id=theirs.id))
    assert [e.deal_title for e in entries] == [audit_log.OTHER_TENANT_DEAL]
    assert not entries[0].success
