"""Issue 15: the weighted forecast and closing this month / quarter, exact, with the
status defaults, from deal_stats for the tenant and from the deals for a list."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from support import USER_PASSWORD, Env, sql

from closeplan_desktop.core.store import bulk
from closeplan_desktop.core.usecases import auth, deal_import, deals, forecast, users
from closeplan_desktop.core.usecases.deal_list import DealQuery

TODAY = date(2027, 2, 10)  # quarter: Jan-Mar 2027


def test_weighted_forecast_is_exact_with_status_defaults(env: Env) -> None:
    users.add_user(env.admin, "carol@acme-health.example", "Carol", "Reyes", "USER",
                   USER_PASSWORD)
    carol = auth.sign_in(env.ws, "carol@acme-health.example", USER_PASSWORD)
    deals.create_deal(env.admin, "Draft", "DRAFT", "100.01")               # 10%: 10.001
    deals.create_deal(env.admin, "Active", "ACTIVE", "0.03",               # 50%: 0.015
                      expected_close_date="2027-02-28")
    deals.create_deal(env.admin, "Own pct", "ACTIVE", "333.33", probability=33,  # 109.9989
                      owner_id=carol.user_id, expected_close_date="2027-03-01")
    deals.create_deal(env.admin, "Won", "CLOSED_WON", "1000",              # not open
                      expected_close_date="2027-02-01")
    gone = deals.create_deal(env.admin, "Gone", "ACTIVE", "999")
    deals.delete_deal(env.admin, gone.id)
    changed = deals.create_deal(env.admin, "Changed", "DRAFT", "10", probability=90)
    deals.update_deal(env.admin, changed.id, status="ACTIVE", probability=None)  # 50%: 5

    f = forecast.forecast(env.admin, today=TODAY)
    assert (f.open.count, f.open.total) == (4, Decimal("443.37"))
    assert f.open.weighted == Decimal("10.001") + Decimal("0.015") + Decimal("109.9989") + 5
    assert (f.month, f.quarter) == (date(2027, 2, 1), date(2027, 1, 1))
    assert (f.this_month.count, f.this_month.total, f.this_month.weighted) == (
        1, Decimal("0.03"), Decimal("0.015"))
    assert (f.this_quarter.count, f.this_quarter.weighted) == (2, Decimal("110.0139"))

    # The same figures summed from the deals (a narrowed list) and after a recount.
    mine = forecast.forecast(env.admin, DealQuery(owner_id=carol.user_id), today=TODAY)
    assert (mine.open.count, mine.open.weighted, mine.this_quarter.count) == (
        1, Decimal("109.9989"), 1)
    searched = forecast.forecast(env.admin, DealQuery(search="dra"), today=TODAY)
    assert (searched.open.count, searched.open.weighted) == (1, Decimal("10.001"))
    with env.ws.engine.begin() as conn:
        bulk.recount_stats(conn)
    assert forecast.forecast(env.admin, today=TODAY) == f
    won_only = forecast.forecast(env.admin, DealQuery(status="CLOSED_WON"), today=TODAY)  # type: ignore[arg-type]
    assert won_only.open.count == 0 and won_only.this_month.weighted == 0


def test_imported_deals_count_in_the_forecast(env: Env) -> None:
    rows = deal_import.parse_import(
        b"title,status,value,probability,expected_close_date\n"
        b"A,ACTIVE,10.00,25,2027-02-03\nB,DRAFT,20.00,,\n")
    deal_import.import_deals(env.admin, rows)
    f = forecast.forecast(env.admin, today=TODAY)
    assert (f.open.count, f.open.weighted) == (2, Decimal("4.5"))
    assert f.this_month.weighted == Decimal("2.5")
    env.ws.engine.dispose()
    assert sql(env.path, "SELECT sum(weighted) FROM deal_stats") == [(45000,)]


def test_quarter_and_month_ranges() -> None:
    assert forecast.quarter_range(date(2027, 12, 31)) == (date(2027, 10, 1), date(2027, 12, 31))
    assert forecast.month_range(date(2028, 2, 10)) == (date(2028, 2, 1), date(2028, 2, 29))


def test_a_lists_forecast_agrees_with_its_deals_whatever_its_close_range(env: Env) -> None:
    """Whole close months come from the counters, part months (and overdue's days of this
    month) from the deals: every figure equals the sum over the deals the list holds."""
    from datetime import UTC, datetime

    from closeplan_desktop.core.domain import clock, probability
    from closeplan_desktop.core.domain.enums import DealStatus
    from closeplan_desktop.core.usecases import deal_list

    rows = [("2026-12-30", "ACTIVE", None), ("2027-01-01", "DRAFT", 30),
            ("2027-01-14", "ACTIVE", 80), ("2027-01-15", "ACTIVE", None),
            ("2027-02-02", "DRAFT", None), ("2027-03-31", "ACTIVE", 90),
            ("2027-01-03", "CLOSED_WON", None), (None, "ACTIVE", 20)]
    for i, (day, status, pct) in enumerate(rows):
        deals.create_deal(env.admin, f"Deal {i}", status, f"{1000 + 7 * i}.35",
                          owner_id=env.user.user_id if i % 3 == 0 else None,
                          expected_close_date=day, probability=pct)
    today = date(2027, 1, 15)
    queries = [DealQuery(), DealQuery(overdue=True), DealQuery(owner_id=env.user.user_id),
               DealQuery(close_from=date(2027, 1, 2), close_to=date(2027, 3, 30)),
               DealQuery(close_from=date(2026, 12, 1), close_to=date(2027, 2, 28)),
               DealQuery(close_to=date(2027, 1, 14), status=DealStatus.ACTIVE),
               DealQuery(overdue=True, owner_id=env.admin.user_id)]
    clock.set_clock(lambda: datetime(2027, 1, 15, 9, tzinfo=UTC), UTC)
    try:
        for query in queries:
            got = forecast.forecast(env.admin, query, today=today)
            listed = [d for d in deal_list.list_deals(env.admin, query, limit=100)
                      if d.status in probability.OPEN]

            def figures(kept: list[deal_list.DealSummary]) -> tuple[int, Decimal, Decimal]:
                return (len(kept), sum((d.value for d in kept), Decimal("0.00")),
                        sum((d.value * d.effective_probability / 100 for d in kept),
                            Decimal("0")))

            month = [d for d in listed if d.expected_close_date is not None
                     and date(2027, 1, 1) <= d.expected_close_date <= date(2027, 1, 31)]
            quarter = [d for d in listed if d.expected_close_date is not None
                       and date(2027, 1, 1) <= d.expected_close_date <= date(2027, 3, 31)]
            for fig, kept in ((got.open, listed), (got.this_month, month),
                              (got.this_quarter, quarter)):
                assert (fig.count, fig.total, fig.weighted) == figures(kept), query
        assert forecast.forecast(env.admin, DealQuery(overdue=True), today=today).open.count == 3
    finally:
        clock.set_clock()
