"""The board (issue 15) in core: headers follow the list's filter and search, columns
page, and a move is one update (one DEAL_UPDATE row, one history row), refused for a
rep moving another's deal (and that refusal logged)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support import Env, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import PermissionDenied, ValidationError
from closeplan_desktop.core.usecases import board, deals
from closeplan_desktop.core.usecases.deal_list import DealQuery


def log_rows(env: Env, deal_id: str) -> list[tuple[object, ...]]:
    env.ws.engine.dispose()
    return sql(env.path, "SELECT action, success FROM access_logs WHERE deal_id = ? "
                         "ORDER BY seq", (deal_id,))


def history_ops(env: Env, deal_id: str) -> list[object]:
    env.ws.engine.dispose()
    return [r[0] for r in sql(env.path, "SELECT op FROM deal_history WHERE deal_id = ?",
                              (deal_id,))]


@pytest.fixture
def some(env: Env) -> None:
    deals.create_deal(env.admin, "Knee implants", "ACTIVE", "100.10")
    deals.create_deal(env.admin, "Knee braces", "ACTIVE", "5")
    deals.create_deal(env.user, "Hip implants", "DRAFT", "20")
    deals.create_deal(env.user, "Won scanner", "CLOSED_WON", "7.50")
    gone = deals.create_deal(env.admin, "Knee pads", "CLOSED_LOST", "3")
    deals.delete_deal(env.admin, gone.id)


def test_headers_are_in_pipeline_order_and_follow_filter_and_search(env: Env,
                                                                     some: None) -> None:
    def shown(query: DealQuery) -> list[tuple[str, int, Decimal | None, bool]]:
        return [(h.status.value, h.count, h.total, h.shown)
                for h in board.headers(env.user, query)]

    assert shown(DealQuery()) == [("DRAFT", 1, Decimal("20.00"), True),
                                  ("ACTIVE", 2, Decimal("105.10"), True),
                                  ("CLOSED_WON", 1, Decimal("7.50"), True),
                                  ("CLOSED_LOST", 0, Decimal("0.00"), True)]
    assert shown(DealQuery(search="knee")) == [("DRAFT", 0, Decimal("0.00"), True),
                                               ("ACTIVE", 2, Decimal("105.10"), True),
                                               ("CLOSED_WON", 0, Decimal("0.00"), True),
                                               ("CLOSED_LOST", 0, Decimal("0.00"), True)]
    assert shown(DealQuery(status=DealStatus.ACTIVE, search="braces")) == [
        ("DRAFT", 0, Decimal("0.00"), False), ("ACTIVE", 1, Decimal("5.00"), True),
        ("CLOSED_WON", 0, Decimal("0.00"), False), ("CLOSED_LOST", 0, Decimal("0.00"), False)]
    assert shown(DealQuery(deleted=True))[3] == ("CLOSED_LOST", 1, Decimal("3.00"), True)


def test_a_broad_search_counts_up_to_a_bound_and_is_not_summed(env: Env) -> None:
    for i in range(4):
        deals.create_deal(env.user, f"Stent batch {i}", "ACTIVE", "1")
    deals.create_deal(env.user, "Stent draft", "DRAFT", "2")
    got = board.headers(env.user, DealQuery(search="stent"), at_most=3)
    assert [(h.count, h.total, h.exact) for h in got] == [
        (1, Decimal("2.00"), True), (3, None, False),
        (0, Decimal("0.00"), True), (0, Decimal("0.00"), True)]


def test_a_column_pages_through_its_status_only(env: Env) -> None:
    for i in range(5):
        deals.create_deal(env.user, f"Active {i}", "ACTIVE", "1")
    deals.create_deal(env.user, "Draft", "DRAFT", "1")
    first = board.column_page(env.user, DealQuery(), DealStatus.ACTIVE, limit=3)
    rest = board.column_page(env.user, DealQuery(), DealStatus.ACTIVE, offset=3, limit=3)
    assert len(first) == 3 and len(rest) == 2
    assert {d.status for d in first + rest} == {DealStatus.ACTIVE}
    assert len({d.id for d in first + rest}) == 5
    assert board.column_page(env.user, DealQuery(status=DealStatus.DRAFT),
                             DealStatus.ACTIVE) == []


def test_a_move_is_one_update_with_one_log_row_and_one_history_row(env: Env) -> None:
    deal = deals.create_deal(env.user, "Infusion pumps", "ACTIVE", "10")
    moved = board.move_deal(env.user, deal.id, DealStatus.CLOSED_WON)
    assert moved.status == DealStatus.CLOSED_WON
    assert log_rows(env, deal.id) == [("DEAL_CREATE", 1), ("DEAL_UPDATE", 1)]
    assert history_ops(env, deal.id) == ["create", "update"]
    # Back from closed is allowed (an update); onto its own column, nothing is written.
    assert board.move_deal(env.user, deal.id, "ACTIVE").status == DealStatus.ACTIVE
    board.move_deal(env.user, deal.id, "ACTIVE")
    assert log_rows(env, deal.id) == [("DEAL_CREATE", 1), ("DEAL_UPDATE", 1),
                                      ("DEAL_UPDATE", 1)]
    headers = {h.status: h.count for h in board.headers(env.user)}
    assert headers[DealStatus.ACTIVE] == 1 and headers[DealStatus.CLOSED_WON] == 0


def test_a_rep_cannot_move_another_users_deal_and_the_refusal_is_logged(env: Env) -> None:
    deal = deals.create_deal(env.admin, "Cath lab", "ACTIVE", "900")
    with pytest.raises(PermissionDenied, match="owner or an administrator"):
        board.move_deal(env.user, deal.id, DealStatus.CLOSED_LOST)
    assert deals.get_deal(env.admin, deal.id).status == DealStatus.ACTIVE
    assert log_rows(env, deal.id) == [("DEAL_CREATE", 1), ("DEAL_UPDATE", 0)]
    assert history_ops(env, deal.id) == ["create"]


def test_a_move_to_an_unknown_status_says_what_is_allowed(env: Env) -> None:
    deal = deals.create_deal(env.user, "Pumps", "ACTIVE", "1")
    with pytest.raises(ValidationError, match="Status"):
        board.move_deal(env.user, deal.id, "WON")
