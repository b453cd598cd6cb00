"""Audit statistics: PHI reveals per user and UTC day, and the unusual-day rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from support import Env, add_legacy_tenant

from closeplan_desktop.core.domain.errors import BreakGlassRequired, PermissionDenied
from closeplan_desktop.core.store import audit_log
from closeplan_desktop.core.usecases import audit, audit_stats, auth, deals
from closeplan_desktop.core.usecases.audit_stats import RevealStat, reveals_per_user_day


def _by_user(stats: list[RevealStat], user_id: str) -> list[RevealStat]:
    return [r for r in stats if r.user_id == user_id]


def _at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make the audit log stamp its rows at `when`."""
    monkeypatch.setattr(audit_log, "utcnow", lambda: when)


def test_counts_per_user_and_day(env: Env) -> None:
    own = [deals.create_deal(env.user, f"Deal {i}", "ACTIVE", "10", {"mrn": "x"})
           for i in range(2)]
    for d in (*own, own[0]):
        deals.reveal_phi(env.user, d.id)
    admins = deals.create_deal(env.admin, "Admin deal", "ACTIVE", "10", {"mrn": "y"})
    deals.reveal_phi(env.admin, admins.id)
    deals.reveal_phi(env.admin, own[1].id)  # an admin reveals any deal without a reason

    stats = reveals_per_user_day(env.admin)
    today = datetime.now(UTC).date()
    assert {r.day for r in stats} == {today}
    (bob,) = _by_user(stats, env.user.user_id)
    assert (bob.reveals, bob.refused, bob.break_glass) == (3, 0, 0)
    assert bob.user_email == env.user.email and bob.user_name == "Bob Sales"
    assert not bob.unusual and bob.why == ""
    (ada,) = _by_user(stats, env.admin.user_id)
    assert (ada.reveals, ada.refused, ada.break_glass, ada.unusual) == (2, 0, 0, False)


def test_break_glass_and_refusals(env: Env) -> None:
    theirs = deals.create_deal(env.admin, "Admin deal", "ACTIVE", "10", {"mrn": "x"})
    with pytest.raises(BreakGlassRequired):
        deals.reveal_phi(env.user, theirs.id)  # no reason: refused, logged
    deals.reveal_phi(env.user, theirs.id, reason="Patient on the phone about delivery")

    (bob,) = _by_user(reveals_per_user_day(env.admin), env.user.user_id)
    assert (bob.reveals, bob.refused, bob.break_glass) == (1, 1, 1)
    assert bob.unusual
    assert "break-glass" in bob.why


def test_only_phi_reads_are_counted(env: Env) -> None:
    d = deals.create_deal(env.user, "Deal", "ACTIVE", "10", {"mrn": "x"})
    deals.update_deal(env.user, d.id, title="Renamed")
    deals.delete_deal(env.user, d.id)
    assert reveals_per_user_day(env.admin) == []


def test_many_more_reveals_than_usual_is_unusual(env: Env,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    d = deals.create_deal(env.user, "Deal", "ACTIVE", "10", {"mrn": "x"})
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    per_day = [2, 2, 2, 10, 25]  # median 2: the threshold is max(20, 3 x 2) = 20
    for n, count in enumerate(per_day):
        for i in range(count):
            _at(monkeypatch, start + timedelta(days=n, seconds=i))
            deals.reveal_phi(env.user, d.id)

    stats = _by_user(reveals_per_user_day(env.admin), env.user.user_id)
    assert [r.day for r in stats] == [date(2026, 3, 2) + timedelta(days=n)
                                      for n in reversed(range(5))]  # newest first
    assert [r.reveals for r in stats] == list(reversed(per_day))
    assert all(r.usual_reveals == 2 for r in stats)
    assert [r.unusual for r in stats] == [True, False, False, False, False]
    assert "25 reveals" in stats[0].why


def test_threshold_follows_the_median() -> None:
    assert audit_stats.unusual_threshold(0) == audit_stats.UNUSUAL_MIN_REVEALS
    assert audit_stats.unusual_threshold(10) == 10 * audit_stats.UNUSUAL_MEDIAN_FACTOR


def test_days_are_utc_and_range_filters(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    d = deals.create_deal(env.user, "Deal", "ACTIVE", "10", {"mrn": "x"})
    for when in (datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC),
                 datetime(2026, 5, 2, 0, 0, 1, tzinfo=UTC),
                 datetime(2026, 5, 3, 9, 0, tzinfo=UTC)):
        _at(monkeypatch, when)
        deals.reveal_phi(env.user, d.id)
    days = {r.day: r.reveals for r in reveals_per_user_day(env.admin)}
    assert days == {date(2026, 5, 1): 1, date(2026, 5, 2): 1, date(2026, 5, 3): 1}
    window = reveals_per_user_day(env.admin, since=datetime(2026, 5, 2, tzinfo=UTC),
                                  until=datetime(2026, 5, 3, tzinfo=UTC))
    assert [(r.day, r.reveals) for r in window] == [(date(2026, 5, 2), 1)]


def test_user_session_is_refused(env: Env) -> None:
    with pytest.raises(PermissionDenied):
        reveals_per_user_day(env.user)
    events, _ = audit.list_events(env.admin, audit.AuditFilter(event_type="ACCESS_DENIED"))
    assert any('"audit.read"' in e.detail and e.user_id == env.user.user_id for e in events)


def test_other_tenants_reveals_never_appear(env: Env) -> None:
    add_legacy_tenant(env.ws, "Other", None, "eve@other.example", "Eve", "O",
                      "other tenant password")
    eve = auth.sign_in(env.ws, "eve@other.example", "other tenant password")
    theirs = deals.create_deal(eve, "Other deal", "ACTIVE", "10", {"mrn": "z"})
    for _ in range(3):
        deals.reveal_phi(eve, theirs.id)
    mine = deals.create_deal(env.user, "Mine", "ACTIVE", "10", {"mrn": "x"})
    deals.reveal_phi(env.user, mine.id)

    ours = reveals_per_user_day(env.admin)
    assert {r.user_id for r in ours} == {env.user.user_id}
    assert sum(r.reveals for r in ours) == 1
    other = reveals_per_user_day(eve)
    assert {r.user_id for r in other} == {eve.user_id}
    assert sum(r.reveals for r in other) == 3
