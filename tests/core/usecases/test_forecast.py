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
