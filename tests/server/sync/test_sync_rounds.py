"""Sync rounds that go wrong half-way, and three laptops at once, against the real server:
a crash between push and acknowledgement changes nothing when replayed (exactly once),
an interrupted pull resumes where it stopped, the server refusing or failing never
drops a change, and three laptops with offline edits all end with the server's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Api
from laptop_support import (
    PASSWORD,
    Laptop,
    connect_laptop,
    new_tenant,
    same_everywhere,
    server_rows,
)
from pg_support import ServerDb

from closeplan_desktop.core.domain.errors import ServerFailed, ServerUnreachable
from closeplan_desktop.core.sync import engine
from closeplan_desktop.core.sync.transport import Transport
from closeplan_desktop.core.usecases import deals, users

REP_PASSWORD = "Harbor-Mosaic-Falcon-64"


def _laptop(live: Api, server_db: ServerDb, tmp_path: Path, tag: str) -> tuple[str, Laptop]:
    made = new_tenant(server_db, f"Rounds {tag}", f"ada@{tag}.example")
    return made.tenant_id, connect_laptop(live, tmp_path / tag, f"ada@{tag}.example")


class Crash(Exception):
    """The laptop dies here (the test's stand-in for a killed process)."""


def test_a_crash_between_push_and_ack_is_replayed_exactly_once(
        live: Api, server_db: ServerDb, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id, a = _laptop(live, server_db, tmp_path, "replay")
    try:
        admin = a.session()
        made = [deals.create_deal(admin, f"Deal {i}", "ACTIVE", f"{i}.00").id for i in range(3)]
        deals.update_deal(admin, made[0], title="Deal 0 renamed")

        def crash(*_: Any) -> None:
            raise Crash

        with monkeypatch.context() as m:  # the server applies, the laptop dies before ack
            m.setattr(engine, "_record_verdicts", crash)
            with pytest.raises(Crash):
                a.sync()
        assert engine.pending_count(a.ws) == 4
        assert a.rows("SELECT mid FROM outbox WHERE acked_at IS NULL ORDER BY id") == [
            (1,), (2,), (3,), (4,)]
        result = a.sync()  # the same mids again: answered as replays, applied once
        assert result.verdicts == {"duplicate": 4}
        assert engine.pending_count(a.ws) == 0
        assert server_rows(server_db, tenant_id, "SELECT count(*) FROM deals WHERE "
                           "tenant_id = %s") == [(3,)]
        assert server_rows(server_db, tenant_id, "SELECT last_mutation_id FROM devices "
                           "WHERE tenant_id = %s") == [(4,)]
        # The next change takes the next mid.
        deals.update_deal(admin, made[1], title="Deal 1 renamed")
        assert a.sync().verdicts == {"applied": 1}
        assert a.rows("SELECT max(mid) FROM outbox") == [(5,)]
        same_everywhere(server_db, tenant_id, a)
    finally:
        a.close()


def test_an_interrupted_pull_resumes_where_it_stopped(
        live: Api, server_db: ServerDb, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id, a = _laptop(live, server_db, tmp_path, "resume")
    try:
        admin = a.session()
        a.sync()
        b = connect_laptop(live, tmp_path / "second", "ada@resume.example", approver=a)
        try:
            for i in range(25):
                deals.create_deal(admin, f"Bulk {i}", "DRAFT", "1.00")
            a.sync()
            applied = 0
            original = engine.apply_page

            def die_after_two(*args: Any, **kwargs: Any) -> None:
                nonlocal applied
                if applied == 2:
                    raise Crash
                applied += 1
                original(*args, **kwargs)

            conn = engine.require_connected(b.ws)
            with monkeypatch.context() as m:
                m.setattr(engine, "apply_page", die_after_two)
                with pytest.raises(Crash):
                    engine.pull(b.ws, b.transport, conn, engine.SyncResult(), limit=10)
            # Two pages of 10 changes committed (deals, and the device rows an admin gets).
            (before,), = b.rows("SELECT count(*) FROM deals")
            assert 10 <= int(before) < 25
            result = b.sync()
            # Only what the cut-off pull had not applied: from its cursor, not from zero
            # (from zero it would be at least 50: each deal with its history row, issue 15;
            # two pages of 10 were applied).
            assert result.pulled <= 2 * 25 + 2 - 20
            same_everywhere(server_db, tenant_id, a, b)
        finally:
            b.close()
    finally:
        a.close()


def test_transient_failures_are_retried_then_raised_and_nothing_is_dropped(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    tenant_id, a = _laptop(live, server_db, tmp_path, "flaky")
    try:
        deals.create_deal(a.session(), "Waiting deal", "ACTIVE", "5.00")
        calls: list[str] = []

        def failing(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            if len(calls) % 2:
                raise httpx.ConnectError("refused")
            return httpx.Response(503, json={"error": {"code": "unavailable",
                                                       "message": "Database down."}})

        conn = engine.require_connected(a.ws)
        flaky = Transport(conn.url, a.ws.keyring, transport=httpx.MockTransport(failing))
        slept: list[float] = []
        with flaky, pytest.raises((ServerUnreachable, ServerFailed)) as caught:
            engine.sync_once(a.ws, flaky, sleep=slept.append)
        assert caught.value.transient
        assert slept == list(engine.RETRY_DELAYS)  # bounded backoff
        assert engine.pending_count(a.ws) == 1  # kept for the next round
        assert a.sync().verdicts == {"applied": 1}
        same_everywhere(server_db, tenant_id, a)
    finally:
        a.close()


def test_three_laptops_edit_offline_and_all_converge(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    tenant_id, a = _laptop(live, server_db, tmp_path, "three")
    laptops = [a]
    try:
        ada = a.session()
        users.add_user(ada, "max@three.example", "Max", "Admin", "ADMIN", PASSWORD)
        rep = users.add_user(ada, "rita@three.example", "Rita", "Rep", "USER", REP_PASSWORD)
        shared = deals.create_deal(ada, "Shared", "ACTIVE", "10.00", {"mrn": "S-1"})
        a.sync()
        b = connect_laptop(live, tmp_path / "b", "max@three.example", approver=a)
        laptops.append(b)
        c = connect_laptop(live, tmp_path / "c", "rita@three.example", REP_PASSWORD,
                           approver=b)  # any admin's device approves
        laptops.append(c)
        # Offline on all three.
        deals.update_deal(ada, shared.id, title="Shared (Ada)")
        deals.create_deal(ada, "Ada's new", "DRAFT", "1.00")
        deals.update_deal(b.session(), shared.id, value="20.00", phi={"mrn": "S-2"})
        users.set_role(b.session(), rep.id, "ADMIN")
        rita = c.session()
        own = deals.create_deal(rita, "Rita's", "ACTIVE", "3.00", {"mrn": "R-1"})
        deals.delete_deal(rita, own.id)
        deals.restore_deal(rita, own.id)
        for laptop in (c, b, a, c, b):
            laptop.sync()
        same_everywhere(server_db, tenant_id, a, b, c)
        for laptop in laptops:
            s = laptop.session()
            d = deals.get_deal(s, shared.id)
            assert (d.title, str(d.value)) == ("Shared (Ada)", "20.00")
            assert deals.reveal_phi(s, own.id, reason="audit") == {"mrn": "R-1"}
        assert c.rows("SELECT role FROM users WHERE id = ?", (rep.id,)) == [("ADMIN",)]
    finally:
        for laptop in laptops:
            laptop.close()


def test_a_long_poll_brings_another_laptops_change_and_announces_it(
        live: Api, server_db: ServerDb, tmp_path: Path) -> None:
    import threading

    _, a = _laptop(live, server_db, tmp_path, "poll")
    try:
        shown: list[bool] = []
        b = connect_laptop(live, tmp_path / "second", "ada@poll.example", approver=a,
                           on_first_screen=lambda: shown.append(True))
        assert shown == [True]  # the bootstrap let the caller show the window early
        try:
            b.sync()
            answers: list[engine.SyncResult] = []
            announced: list[frozenset[str]] = []
            waiter = threading.Thread(target=lambda: answers.append(engine.wait_for_changes(
                b.ws, b.transport, 20, announce=announced.append)))
            waiter.start()
            d = deals.create_deal(a.session(), "Seen live", "ACTIVE", "1.00")
            a.sync()
            waiter.join(30)
            assert not waiter.is_alive() and answers[0].pulled >= 1
            assert "deals" in answers[0].changed and announced
            assert b.rows("SELECT title FROM deals WHERE id = ?", (d.id,)) == [("Seen live",)]
            # Nothing new: the wait ends empty at its timeout.
            assert engine.wait_for_changes(b.ws, b.transport, 0.5).pulled == 0
        finally:
            b.close()
    finally:
        a.close()
