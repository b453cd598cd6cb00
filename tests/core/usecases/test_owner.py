"""Issue 15: a deal's owner, expected close date and probability; permissions follow
the owner (edit, reassign, delete, reveal without break-glass); the lists filter and
sort by them; reassigning is logged with a history row."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from support import USER_PASSWORD, Env, sql

from closeplan_desktop.core.domain import deal_words, probability, validation
from closeplan_desktop.core.domain.clock import local_today
from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import (
    BreakGlassRequired,
    PermissionDenied,
    ValidationError,
)
from closeplan_desktop.core.usecases import auth, deal_list, deals, timeline, users
from closeplan_desktop.core.usecases.deal_list import DealQuery

PHI = {"patient_name": "Zelda Quintero-Marsh"}
CAROL = "carol@acme-health.example"


def rows(env: Env, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    env.ws.engine.dispose()
    return sql(env.path, query, params)


def carol(env: Env) -> auth.AuthSession:
    users.add_user(env.admin, CAROL, "Carol", "Reyes", "USER", USER_PASSWORD)
    return auth.sign_in(env.ws, CAROL, USER_PASSWORD)


def test_a_new_deal_is_owned_by_its_creator_unless_told(env: Env) -> None:
    mine = deals.create_deal(env.user, "Mine", "DRAFT", "10")
    assert mine.owner_id == mine.created_by_id == env.user.user_id
    assert mine.owner_name == "Bob Sales"
    assert mine.expected_close_date is None and mine.probability is None
    assert mine.effective_probability == 10
    given = deals.create_deal(env.admin, "For Bob", "ACTIVE", "10", owner_id=env.user.user_id,
                              expected_close_date="2027-03-31", probability="35%")
    assert (given.owner_id, given.created_by_id) == (env.user.user_id, env.admin.user_id)
    assert given.expected_close_date == date(2027, 3, 31)
    assert (given.probability, given.effective_probability) == (35, 35)
    assert rows(env, "SELECT owner_id, expected_close_date, probability FROM deals "
                     "WHERE id = ?", (given.id,)) == [(env.user.user_id, "2027-03-31", 35)]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"probability": 101}, "Probability must be a whole percent from 0 to 100"),
    ({"probability": "half"}, "Probability must be a whole percent from 0 to 100"),
    ({"probability": True}, "Probability must be a whole percent"),
    ({"expected_close_date": "2027-02-30"}, "Expected close date must be a real day"),
    ({"expected_close_date": "1999-12-31"}, "between 2000 and 2999"),
    ({"owner_id": "c" * 25}, "Owner must be a user of your organisation"),
    ({"owner_id": ""}, "Owner is required"),
])
def test_bad_values_get_clear_messages_and_write_nothing(env: Env, kwargs: dict[str, object],
                                                         message: str) -> None:
    before = deal_list.count_deals(env.admin)
    with pytest.raises(ValidationError, match=message):
        deals.create_deal(env.admin, "Bad", "DRAFT", "1", **kwargs)  # type: ignore[arg-type]
    assert deal_list.count_deals(env.admin) == before


def test_a_deactivated_user_cannot_be_made_owner(env: Env) -> None:
    c = carol(env)
    users.deactivate(env.admin, c.user_id)
    d = deals.create_deal(env.admin, "Deal", "DRAFT", "1")
    with pytest.raises(ValidationError, match="deactivated"):
        deals.reassign_deal(env.admin, d.id, c.user_id)
    assert deals.get_deal(env.admin, d.id).owner_id == env.admin.user_id


def test_reassign_moves_edit_and_reveal_to_the_new_owner(env: Env) -> None:
    c = carol(env)
    d = deals.create_deal(env.user, "Handed over", "ACTIVE", "500", PHI)
    moved = deals.reassign_deal(env.user, d.id, c.user_id)
    assert (moved.owner_id, moved.created_by_id) == (c.user_id, env.user.user_id)
    # The new owner edits and reveals directly.
    deals.update_deal(c, d.id, probability=80)
    assert deals.reveal_phi(c, d.id) == PHI
    # The creator lost both: editing is refused (and logged), reveal needs break-glass.
    with pytest.raises(PermissionDenied):
        deals.update_deal(env.user, d.id, title="Mine again")
    with pytest.raises(PermissionDenied):
        deals.reassign_deal(env.user, d.id, env.user.user_id)
    with pytest.raises(BreakGlassRequired):
        deals.reveal_phi(env.user, d.id)
    assert deals.reveal_phi(env.user, d.id, reason="Covering for Carol") == PHI
    assert deals.needs_break_glass(env.user, moved.owner_id)
    assert not deals.needs_break_glass(c, moved.owner_id)
    logs = rows(env, "SELECT user_id, action, success, resource_type, reason FROM access_logs "
                     "WHERE deal_id = ? ORDER BY seq", (d.id,))
    # The reassign's row names the field it changed (the history row has the values).
    assert (env.user.user_id, "DEAL_UPDATE", 1, "deal:owner_id", None) in logs
    assert (env.user.user_id, "DEAL_UPDATE", 0) in [(u, a, s) for u, a, s, _, _ in logs]
    assert (env.user.user_id, "PHI_ACCESS", 1, "Covering for Carol") in [
        (u, a, s, why) for u, a, s, _, why in logs]
    events = rows(env, "SELECT detail FROM security_events WHERE type = 'BREAK_GLASS'")
    assert json.loads(str(events[-1][0]))["owner"] == c.user_id
    # The admin may reassign any deal; a non-owner USER may not.
    deals.reassign_deal(env.admin, d.id, env.user.user_id)
    with pytest.raises(PermissionDenied):
        deals.reassign_deal(c, d.id, c.user_id)


def test_history_records_each_new_field_in_words(env: Env) -> None:
    c = carol(env)
    d = deals.create_deal(env.admin, "Worded", "DRAFT", "1234.5",
                          expected_close_date="2027-01-15")
    deals.update_deal(env.admin, d.id, status="CLOSED_WON", value="2000",
                      expected_close_date="2027-02-01", probability=70)
    deals.reassign_deal(env.admin, d.id, c.user_id)
    deals.update_deal(c, d.id, probability=None)
    history = timeline.deal_history(env.admin, d.id)
    assert [h.describe() for h in history] == [
        "Changed: Probability: 70% → status default",
        "Changed: Owner: Ada Admin → Carol Reyes",
        "Changed: Status: Draft → Closed – won; Value: $1,234.50 → $2,000.00; "
        "Expected close: 15 Jan 2027 → 1 Feb 2027; Probability: status default → 70%",
        "Created: Title: Worded; Status: Draft; Value: $1,234.50; "
        "Expected close: 15 Jan 2027",
    ]
    stored = rows(env, "SELECT changes FROM deal_history WHERE deal_id = ? AND op = 'update' "
                       "ORDER BY created_at", (d.id,))
    assert {"field": "owner_id", "old": env.admin.user_id, "new": c.user_id} in json.loads(
        str(stored[1][0]))


def test_lists_filter_by_owner_close_date_and_overdue(env: Env) -> None:
    today = local_today()
    c = carol(env)
    a = deals.create_deal(env.admin, "A", "ACTIVE", "1", owner_id=c.user_id,
                          expected_close_date=today - timedelta(days=1))
    b = deals.create_deal(env.admin, "B", "ACTIVE", "2", expected_close_date=today)
    won = deals.create_deal(env.admin, "Won late", "CLOSED_WON", "3",
                            expected_close_date=today - timedelta(days=30))
    none = deals.create_deal(env.admin, "No date", "DRAFT", "4", owner_id=c.user_id)

    def ids(query: DealQuery) -> list[str]:
        return [d.id for d in deal_list.list_deals(env.admin, query)]

    assert set(ids(DealQuery(owner_id=c.user_id))) == {a.id, none.id}
    assert deal_list.count_deals(env.admin, DealQuery(owner_id=c.user_id)) == 2
    assert ids(DealQuery(overdue=True)) == [a.id]
    assert deal_list.count_deals(env.admin, DealQuery(overdue=True)) == 1
    assert set(ids(DealQuery(close_from=today - timedelta(days=1), close_to=today))) == {
        a.id, b.id}
    assert set(ids(DealQuery(close_to=today))) == {a.id, b.id, won.id}
    # Sorted by close date: deals without one first ascending, last descending.
    assert ids(DealQuery(sort="expected_close_date", descending=False)) == [
        none.id, won.id, a.id, b.id]
    assert ids(DealQuery(sort="expected_close_date")) == [b.id, a.id, won.id, none.id]
    assert deal_list.list_deals(env.admin, DealQuery(overdue=True))[0].is_overdue()
    assert not deal_list.list_deals(env.admin, DealQuery(owner_id=c.user_id,
                                                         status=DealStatus.DRAFT))[0].is_overdue()
    totals = {p.status: p.count for p in deal_list.pipeline(env.admin,
                                                            DealQuery(owner_id=c.user_id))}
    assert totals[DealStatus.ACTIVE] == 1 and totals[DealStatus.DRAFT] == 1
    with pytest.raises(ValidationError, match="ends before it starts"):
        deal_list.list_deals(env.admin, DealQuery(close_from=today, close_to=today
                                                  - timedelta(days=1)))


@pytest.mark.parametrize("sort", deal_list.SORT_COLUMNS)
@pytest.mark.parametrize("plan", ["sort", "walk"])
def test_my_deals_page_through_every_sort(env: Env, sort: str, plan: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sort pages one owner's deals exactly, by either plan (keyset paging)."""
    c = carol(env)
    monkeypatch.setattr(deal_list, "owner_plan", lambda *a: plan)
    made = []
    for i in range(23):
        owner = c.user_id if i % 3 else env.admin.user_id
        made.append(deals.create_deal(
            env.admin, f"Deal {i % 5}", ["DRAFT", "ACTIVE", "CLOSED_WON"][i % 3], str(i % 4),
            owner_id=owner, expected_close_date=None if i % 4 == 0 else
            date(2027, 1 + i % 2, 1 + i % 3)))
    queries = [DealQuery(owner_id=c.user_id, sort=sort, descending=d) for d in (True, False)]
    queries += [DealQuery(close_from=date(2027, 1, 2), close_to=date(2027, 2, 2), sort=sort),
                DealQuery(owner_id=c.user_id, close_to=date(2027, 1, 2), sort=sort,
                          descending=False)]
    for query in queries:
        descending = query.descending
        everything = deal_list.list_deals(env.admin, query, limit=500)
        expected = sorted(everything, key=lambda d: (deal_list.sort_value(d, sort), d.id),
                          reverse=descending)
        assert [d.id for d in everything] == [d.id for d in expected]
        assert {d.id for d in everything} == {
            d.id for d in made if (query.owner_id is None or d.owner_id == c.user_id)
            and (query.close_from is None or (d.expected_close_date or date.min)
                 >= query.close_from)
            and (query.close_to is None or date.min < (d.expected_close_date or date.min)
                 <= query.close_to)}
        got: list[deal_list.DealSummary] = []
        while True:
            page = deal_list.list_deals(env.admin, query, offset=len(got), limit=4)
            got += page
            if len(page) < 4:
                break
        assert [d.id for d in got] == [d.id for d in expected]


def test_one_rule_for_the_status_default() -> None:
    assert probability.effective("DRAFT", None) == 10
    assert probability.effective(DealStatus.CLOSED_LOST, None) == 0
    assert probability.effective("ACTIVE", 0) == 0
    assert deal_words.probability_text(None) == "status default"
    assert validation.probability(" 40 % ") == 40
    assert validation.close_date(" ") is None


def test_the_migration_keeps_the_status_defaults_of_core() -> None:
    import importlib

    migration = importlib.import_module(
        "closeplan_desktop.core.store.migrations.versions.0009_owner")
    assert migration.DEFAULTS == {s.value: p for s, p in probability.DEFAULTS.items()}


def test_import_takes_owner_close_date_and_probability(env: Env) -> None:
    from closeplan_desktop.core.usecases import deal_import

    c = carol(env)
    data = ("title,status,value,owner_email,expected_close_date,probability\n"
            f"One,ACTIVE,1.00,{CAROL},2027-05-01,40\n"
            "Two,DRAFT,2.00,,,\n").encode()
    assert deal_import.import_deals(env.admin, deal_import.parse_import(data)) == 2
    got = {d.title: d for d in deal_list.list_deals(env.admin)}
    assert (got["One"].owner_id, got["One"].expected_close_date, got["One"].probability) == (
        c.user_id, date(2027, 5, 1), 40)
    assert (got["Two"].owner_id, got["Two"].probability) == (env.admin.user_id, None)
    assert [h.describe() for h in timeline.deal_history(env.admin, got["One"].id)] == [
        "Created: Title: One; Status: Active; Value: $1.00; Owner: Carol Reyes; "
        "Expected close: 1 May 2027; Probability: 40%"]


def test_import_reports_unknown_owners_by_line_and_writes_nothing(env: Env) -> None:
    from closeplan_desktop.core.usecases import deal_import

    data = (b"title,status,value,owner_email\nOne,ACTIVE,1.00,nobody@acme-health.example\n"
            b"Two,DRAFT,2.00,\nThree,DRAFT,2.00,ghost@acme-health.example\n")
    rows_in = deal_import.parse_import(data)
    with pytest.raises(ValidationError) as err:
        deal_import.import_deals(env.admin, rows_in)
    assert "line 2: nobody@acme-health.example" in str(err.value)
    assert "line 4: ghost@acme-health.example" in str(err.value)
    assert deal_list.count_deals(env.admin) == 0
    with pytest.raises(ValidationError, match="Line 2: Probability must be"):
        deal_import.parse_import(b"title,status,value,probability\nX,DRAFT,1,150\n")
    with pytest.raises(ValidationError, match="Line 2: Expected close date"):
        deal_import.parse_import(b"title,status,value,expected_close_date\nX,DRAFT,1,31/12\n")


def test_counts_and_totals_from_the_counters_agree_with_the_rows(env: Env) -> None:
    """A list of one owner or of a close range is counted from the per-owner, per-month
    counters for its whole months and from the rows for its part months (overdue: this
    month up to yesterday): the same count and totals as the rows themselves, after
    creates, edits (owner, date, status) and deletes."""
    from datetime import UTC, datetime

    from closeplan_desktop.core.domain import clock

    made = []
    for i, (day, status) in enumerate([("2027-01-05", "DRAFT"), ("2027-01-31", "ACTIVE"),
                                       ("2027-02-01", "ACTIVE"), ("2027-03-31", "CLOSED_WON"),
                                       (None, "ACTIVE"), ("2026-12-31", "DRAFT")]):
        made.append(deals.create_deal(env.admin, f"Deal {i}", status, f"{100 + i}.25",
                                      owner_id=env.user.user_id if i % 2 else None,
                                      expected_close_date=day))
    deals.update_deal(env.admin, made[0].id, expected_close_date="2027-02-14")
    deals.reassign_deal(env.admin, made[2].id, env.user.user_id)
    deals.update_deal(env.admin, made[3].id, status="ACTIVE")
    deals.delete_deal(env.admin, made[5].id)
    jan, q1 = (date(2027, 1, 1), date(2027, 1, 31)), (date(2027, 1, 1), date(2027, 3, 31))
    queries = [DealQuery(owner_id=env.user.user_id), DealQuery(owner_id=env.admin.user_id),
               DealQuery(owner_id=env.user.user_id, status=DealStatus.ACTIVE),
               DealQuery(close_from=jan[0], close_to=jan[1]),
               DealQuery(close_from=q1[0], close_to=q1[1], owner_id=env.user.user_id),
               DealQuery(close_to=q1[1]), DealQuery(close_from=date(2027, 2, 1)),
               DealQuery(owner_id=env.admin.user_id, deleted=True),
               # part months at either end, inside one month, across two
               DealQuery(close_from=date(2027, 1, 2)), DealQuery(close_to=date(2027, 2, 14)),
               DealQuery(close_from=date(2027, 1, 31), close_to=date(2027, 3, 30)),
               DealQuery(close_from=date(2027, 1, 6), close_to=date(2027, 2, 20)),
               DealQuery(close_from=date(2027, 2, 14), close_to=date(2027, 2, 14))]
    # Overdue ends yesterday: on 15 Feb 2027 it holds January whole and 1-14 February.
    overdue = [DealQuery(overdue=True), DealQuery(overdue=True, owner_id=env.user.user_id),
               DealQuery(overdue=True, status=DealStatus.CLOSED_WON),
               DealQuery(overdue=True, close_from=date(2027, 1, 10)),
               DealQuery(overdue=True, close_from=date(2027, 2, 20))]  # nothing: after today
    clock.set_clock(lambda: datetime(2027, 2, 15, 12, tzinfo=UTC), UTC)
    try:
        for query in queries + overdue:
            listed = deal_list.list_deals(env.admin, query, limit=100)
            assert deal_list.count_deals(env.admin, query) == len(listed), query
            by_status = {r.status: (r.count, r.total)
                         for r in deal_list.pipeline(env.admin, query)}
            for st in DealStatus:
                mine = [d for d in listed if d.status == st]
                assert by_status[st] == (len(mine),
                                         sum((d.value for d in mine), Decimal("0.00"))), query
        assert deal_list.count_deals(env.admin, DealQuery(overdue=True)) == 3
    finally:
        clock.set_clock()


def test_a_close_range_splits_into_whole_months_and_part_months() -> None:
    from closeplan_desktop.core.usecases.close_months import MonthSplit, split

    today = date(2027, 2, 15)
    assert split(None, None, False, today) == MonthSplit((None, None), ())
    assert split(date(2027, 1, 1), date(2027, 3, 31), False, today) == MonthSplit(
        ("2027-01", "2027-03"), ())
    assert split(None, None, True, today) == MonthSplit(
        (None, "2027-01"), ((date(2027, 2, 1), date(2027, 2, 14)),))
    assert split(date(2027, 1, 10), date(2027, 3, 5), False, today) == MonthSplit(
        ("2027-02", "2027-02"), ((date(2027, 1, 10), date(2027, 1, 31)),
                                 (date(2027, 3, 1), date(2027, 3, 5))))
    assert split(date(2027, 1, 10), date(2027, 2, 5), False, today) == MonthSplit(
        None, ((date(2027, 1, 10), date(2027, 2, 5)),))
    assert split(date(2027, 3, 1), date(2027, 2, 1), False, today) == MonthSplit(None, ())
    # Overdue on the first of a month: the month before, whole, and no rows.
    assert split(None, None, True, date(2027, 3, 1)) == MonthSplit((None, "2027-02"), ())


def test_a_deal_whose_owner_was_deactivated_can_still_be_edited(env: Env) -> None:
    """Its form keeps the deactivated owner; saving another field must not be refused for
    the owner it did not change. Choosing a deactivated owner anew is refused."""
    rep = carol(env)
    made = deals.create_deal(env.admin, "Handed over", "ACTIVE", "10", owner_id=rep.user_id)
    users.deactivate(env.admin, rep.user_id)
    edited = deals.update_deal(env.admin, made.id, title="Still here", owner_id=rep.user_id)
    assert (edited.title, edited.owner_id) == ("Still here", rep.user_id)
    other = deals.create_deal(env.admin, "Other", "ACTIVE", "10")
    with pytest.raises(ValidationError, match="active user"):
        deals.update_deal(env.admin, other.id, owner_id=rep.user_id)
