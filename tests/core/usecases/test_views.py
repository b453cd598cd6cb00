"""Saved views (issue 15): save, update, rename, delete, default, per user; the query
saved generically and read back with unknown or invalid fields dropped with a note."""

from __future__ import annotations

import json
from datetime import date

import pytest
from support import ADMIN_EMAIL, ADMIN_PASSWORD, USER_EMAIL, USER_PASSWORD, Env, sql

from closeplan_desktop.core.domain.enums import DealStatus
from closeplan_desktop.core.domain.errors import NotFoundError, ValidationError
from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.core.store import workspace
from closeplan_desktop.core.usecases import auth, deal_list, views
from closeplan_desktop.core.usecases.deal_list import DealQuery


def names(env_session: object) -> list[str]:
    return [v.name for v in views.list_views(env_session)]  # type: ignore[arg-type]


def test_round_trip_survives_reopening_the_workspace(env: Env) -> None:
    q = DealQuery(status=DealStatus.ACTIVE, search="cardio", sort="value", descending=False)
    saved = views.save_view(env.user, "  Big cardiology  ", q)
    assert saved.name == "Big cardiology" and saved.query == q and not saved.notes
    views.set_default(env.user, "big CARDIOLOGY")
    path = env.path
    env.ws.close()
    ws = workspace.open_workspace(path)
    try:
        rep = auth.sign_in(ws, USER_EMAIL, USER_PASSWORD)
        found = views.get_view(rep, "Big cardiology")
        assert found.query == q and found.is_default
        assert views.default_view(rep).name == "Big cardiology"
        # The built-ins come first and stay; the other user has neither view nor default.
        assert names(rep)[0] == views.ALL_DEALS and views.DELETED in names(rep)
        admin = auth.sign_in(ws, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert "Big cardiology" not in names(admin)
        assert views.default_view(admin).name == views.ALL_DEALS
    finally:
        ws.close()


def test_update_rename_delete_and_their_outbox_rows(env: Env) -> None:
    views.save_view(env.user, "Open", DealQuery(status=DealStatus.ACTIVE))
    updated = views.update_view(env.user, "Open", DealQuery(status=DealStatus.DRAFT))
    assert updated.query.status == DealStatus.DRAFT
    views.rename_view(env.user, "Open", "Drafts")
    assert "Drafts" in names(env.user) and "Open" not in names(env.user)
    views.set_default(env.user, "Drafts")
    views.delete_view(env.user, "Drafts")
    assert "Drafts" not in names(env.user)
    assert views.default_view(env.user).name == views.ALL_DEALS
    env.ws.engine.dispose()
    rows = sql(env.path, "SELECT op, fields FROM outbox WHERE entity = 'saved_views' "
                         "ORDER BY id")
    assert rows == [("create", None), ("update", '["query"]'), ("update", '["name"]'),
                    ("update", '["is_default"]'), ("delete", None)]
    # The tombstone stays for sync; no access-log row was written for views.
    assert sql(env.path, "SELECT count(*) FROM saved_views WHERE deleted_at IS NOT NULL") \
        == [(1,)]


def test_names_unique_per_user_with_clear_messages(env: Env) -> None:
    views.save_view(env.user, "Hot", DealQuery(search="hot"))
    with pytest.raises(ValidationError, match="already have a view named 'hot'"):
        views.save_view(env.user, "hot", DealQuery())
    with pytest.raises(ValidationError, match="built-in view"):
        views.save_view(env.user, "all deals", DealQuery())
    with pytest.raises(ValidationError, match="View name"):
        views.save_view(env.user, "   ", DealQuery())
    with pytest.raises(ValidationError, match="View name"):
        views.save_view(env.user, "x" * (views.MAX_NAME + 1), DealQuery())
    with pytest.raises(ValidationError, match="built-in"):
        views.delete_view(env.user, views.DELETED)
    with pytest.raises(ValidationError, match="built-in"):
        views.update_view(env.user, views.ALL_DEALS, DealQuery(search="x"))
    with pytest.raises(ValidationError, match="Sort must be"):
        views.save_view(env.user, "Bad", DealQuery(sort="phi"))
    # Another user may use the same name: names are per user.
    views.save_view(env.admin, "Hot", DealQuery())


def test_a_user_never_sees_or_changes_another_users_views(env: Env) -> None:
    views.save_view(env.admin, "Admin's", DealQuery(search="secret plan"))
    assert "Admin's" not in names(env.user)
    for attempt in (lambda: views.update_view(env.user, "Admin's", DealQuery()),
                    lambda: views.rename_view(env.user, "Admin's", "Mine now"),
                    lambda: views.delete_view(env.user, "Admin's"),
                    lambda: views.set_default(env.user, "Admin's"),
                    lambda: views.get_view(env.user, "Admin's")):
        with pytest.raises(NotFoundError):
            attempt()
    assert views.get_view(env.admin, "Admin's").query.search == "secret plan"


def test_count_and_size_limits(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "MAX_VIEWS", 2)
    views.save_view(env.user, "One", DealQuery())
    views.save_view(env.user, "Two", DealQuery())
    with pytest.raises(ValidationError, match="2 saved views"):
        views.save_view(env.user, "Three", DealQuery())
    monkeypatch.setattr(views, "MAX_QUERY_BYTES", 50)
    with pytest.raises(ValidationError, match="too large"):
        views.update_view(env.user, "One", DealQuery(search="a" * 60))


def test_unknown_and_invalid_saved_fields_are_dropped_with_a_note(env: Env) -> None:
    saved = views.save_view(env.user, "Mixed", DealQuery(search="mri"))
    raw = json.loads(views.encode_query(DealQuery(search="mri")))
    raw.update(future_filter="x", status="NOT_A_STATUS", sort="phi", descending="yes")
    env.ws.engine.dispose()
    sql(env.path, "UPDATE saved_views SET query = ? WHERE id = ?", (json.dumps(raw), saved.id))
    found = views.get_view(env.user, "Mixed")
    assert found.query == DealQuery(search="mri")
    assert len(found.notes) == 4
    assert any("future_filter" in n for n in found.notes)
    assert any("'status'" in n for n in found.notes)
    sql(env.path, "UPDATE saved_views SET query = 'not json' WHERE id = ?", (saved.id,))
    broken = views.get_view(env.user, "Mixed")
    assert broken.query == DealQuery() and broken.notes


def test_every_dealquery_field_round_trips_generically() -> None:
    import dataclasses
    fields = {f.name for f in dataclasses.fields(DealQuery)}
    encoded = json.loads(views.encode_query(DealQuery()))
    assert set(encoded) == fields
    q = DealQuery(status=DealStatus.CLOSED_WON, search="x", sort="title", descending=False,
                  deleted=True, owner_id=new_id(),
                  close_from=date(2026, 1, 1), close_to=date(2026, 3, 31), overdue=True)
    assert views.decode_query(views.encode_query(q)) == (q, ())
    bad = json.loads(views.encode_query(q))
    bad.update(close_from="the first of May", owner_id=7)
    got, notes = views.decode_query(json.dumps(bad))
    assert got.close_from is None and got.owner_id is None and got.close_to == q.close_to
    assert len(notes) == 2


def test_this_month_and_this_quarter_are_saved_as_windows_not_dates(env: Env) -> None:
    """Saved in December as "this month", the view opens in January on January; a range
    of its own stays as saved."""
    from datetime import UTC, datetime

    from closeplan_desktop.core.domain import clock

    december, january = date(2026, 12, 14), date(2027, 1, 5)
    month = DealQuery(close_from=date(2026, 12, 1), close_to=date(2026, 12, 31))
    quarter = DealQuery(close_from=date(2026, 10, 1), close_to=date(2026, 12, 31), sort="value")
    fixed = DealQuery(close_from=date(2026, 12, 2), close_to=date(2026, 12, 31))
    assert json.loads(views.encode_query(month, december))["close_window"] == "this_month"
    assert views.decode_query(views.encode_query(month, december), january) == (
        DealQuery(close_from=date(2027, 1, 1), close_to=date(2027, 1, 31)), ())
    assert views.decode_query(views.encode_query(quarter, december), january) == (
        DealQuery(close_from=date(2027, 1, 1), close_to=date(2027, 3, 31), sort="value"), ())
    assert views.decode_query(views.encode_query(fixed, december), january) == (fixed, ())
    # Through the stored view, on the clock of the day it is opened.
    clock.set_clock(lambda: datetime(2026, 12, 14, 12, tzinfo=UTC), UTC)
    try:
        views.save_view(env.user, "Closing this month", month)
        clock.set_clock(lambda: datetime(2027, 1, 5, 12, tzinfo=UTC), UTC)
        opened = views.get_view(env.user, "Closing this month").query
        assert (opened.close_from, opened.close_to) == (date(2027, 1, 1), date(2027, 1, 31))
    finally:
        clock.set_clock()
    # A window this version does not know: the saved dates, and a note.
    odd = json.loads(views.encode_query(month, december))
    odd["close_window"] = "next_fortnight"
    got, notes = views.decode_query(json.dumps(odd), january)
    assert got == month and len(notes) == 1


def test_my_deals_is_built_in_and_filters_by_the_signed_in_owner(env: Env) -> None:
    mine = views.get_view(env.user, views.MY_DEALS)
    assert mine.builtin and mine.query.owner_id == env.user.user_id
    assert views.get_view(env.admin, "my deals").query.owner_id == env.admin.user_id
    views.set_default(env.user, views.MY_DEALS)
    assert views.default_view(env.user).query.owner_id == env.user.user_id
    with pytest.raises(ValidationError, match="built-in"):
        views.rename_view(env.user, views.MY_DEALS, "Other")


def test_a_builtin_can_be_the_default(env: Env) -> None:
    views.save_view(env.user, "Mine", DealQuery(search="a"))
    views.set_default(env.user, "Mine")
    views.set_default(env.user, views.DELETED)
    assert views.default_view(env.user).name == views.DELETED
    assert views.default_view(env.user).query.deleted
    # The mark is not listed as a view of its own.
    assert names(env.user).count(views.DELETED) == 1
    views.set_default(env.user, views.ALL_DEALS)
    assert views.default_view(env.user).name == views.ALL_DEALS
    assert deal_list.DealQuery() == views.default_view(env.user).query
