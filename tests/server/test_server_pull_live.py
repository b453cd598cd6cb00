"""Long-poll (server/sync/live.py): a waiting pull wakes on another connection's commit of
its tenant and answers with it; it answers empty when its wait ends; another tenant's
commit does not answer it; waiters are bounded; closing the listener ends every wait; two
listeners (two API processes) each hear every commit; a lost listening connection comes
back. Nothing here asserts a time: speed is in tests/benchmarks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pg_support import ServerDb, Tenant
from pull_support import admin_caller

from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.db.pool import Database
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.sync import live, pull

LONG = 20.0  # a wait no passing test sits out


@pytest.fixture
def listener(server_db: ServerDb) -> Iterator[live.Listener]:
    lst = live.Listener(server_db.app_dsn)
    lst.start()
    assert lst.listening
    yield lst
    lst.close()


def looker(db: Database, who: Caller, cursor: str | None) -> Callable[[], pull.PullPage]:
    def look() -> pull.PullPage:
        with pull.snapshot(db, who) as conn:
            return pull.pull(conn, who, cursor)
    return look


def up_to_date(db: Database, who: Caller) -> pull.PullPage:
    cursor = None
    while True:
        page = looker(db, who, cursor)()
        cursor = page.cursor
        if page.up_to_date:
            return page


def in_background(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    th = threading.Thread(target=lambda: out.append(fn()))
    th.start()
    return th, out


def rename_later(db: ServerDb, t: Tenant, deal: str, title: str, delay: float = 0.3) -> None:
    time.sleep(delay)
    with db.app() as conn:
        conn.execute("SELECT set_tenant_context(%s)", (t.id,))
        conn.execute("UPDATE deals SET title = %s WHERE id = %s", (title, deal))


def test_a_waiting_pull_answers_with_another_connections_commit(
        server_db: ServerDb, listener: live.Listener) -> None:
    t = server_db.tenant("Wake")
    deal = server_db.deal(t)
    who, db = admin_caller(server_db, t), server_db.pool()
    start = up_to_date(db, who)
    th, out = in_background(lambda: live.poll(listener, t.id, start.checkpoint, LONG,
                                              looker(db, who, start.cursor)))
    rename_later(server_db, t, deal, "Seen live")
    th.join(LONG + 5)
    (page,) = out
    assert isinstance(page, pull.PullPage)
    assert [json.loads(c)["row"]["title"] for c in page.changes
            if json.loads(c)["table"] == "deals"] == ["Seen live"]  # and its history row
    assert page.checkpoint == start.checkpoint + 1


def test_a_waiting_pull_answers_empty_when_its_wait_ends(
        server_db: ServerDb, listener: live.Listener) -> None:
    t = server_db.tenant("Quiet")
    who, db = admin_caller(server_db, t), server_db.pool()
    start = up_to_date(db, who)
    page = live.poll(listener, t.id, start.checkpoint, 0.5, looker(db, who, start.cursor))
    assert page.changes == [] and page.up_to_date and page.checkpoint == start.checkpoint
    assert listener.waiting == 0


def test_another_tenants_commit_does_not_answer_a_wait(
        server_db: ServerDb, listener: live.Listener) -> None:
    a, b = server_db.tenant("Mine"), server_db.tenant("Theirs")
    b_deal = server_db.deal(b)
    who, db = admin_caller(server_db, a), server_db.pool()
    start = up_to_date(db, who)
    looks: list[int] = []
    base = looker(db, who, start.cursor)

    def counting() -> pull.PullPage:
        looks.append(1)
        return base()

    th, out = in_background(lambda: live.poll(listener, a.id, start.checkpoint, 1.5, counting))
    rename_later(server_db, b, b_deal, "Elsewhere", delay=0.2)
    th.join(10)
    (page,) = out
    assert isinstance(page, pull.PullPage) and page.changes == []
    assert len(looks) == 1  # never woken: one look, then the whole wait


def test_waiters_are_bounded_and_a_closed_listener_ends_every_wait_at_once(
        server_db: ServerDb) -> None:
    t = server_db.tenant("Bounded")
    who, db = admin_caller(server_db, t), server_db.pool()
    start = up_to_date(db, who)
    lst = live.Listener(server_db.app_dsn, max_waiters=2)
    lst.start()
    try:
        waits = [in_background(lambda: live.poll(lst, t.id, start.checkpoint, 30.0,
                                                 looker(db, who, start.cursor)))
                 for _ in range(2)]
        while lst.waiting < 2:
            time.sleep(0.01)
        with pytest.raises(ApiError) as e, lst.subscribe(t.id, 0, lambda: None):
            pass
        assert e.value.status == 503 and e.value.code == "too_many_waiting"
    finally:
        lst.close()
    for th, out in waits:
        th.join(10)  # far below their 30 s wait: close() ended them
        assert not th.is_alive()
        (page,) = out
        assert isinstance(page, pull.PullPage) and page.changes == []
    with pytest.raises(ApiError) as e, lst.subscribe(t.id, 0, lambda: None):
        pass
    assert e.value.code == "shutting_down"


def test_two_listeners_each_hear_every_commit(server_db: ServerDb,
                                             listener: live.Listener) -> None:
    t = server_db.tenant("Twice")
    deal = server_db.deal(t)
    who, db = admin_caller(server_db, t), server_db.pool()
    start = up_to_date(db, who)
    second = live.Listener(server_db.app_dsn)
    second.start()
    try:
        waits = [in_background(lambda lst=lst: live.poll(lst, t.id, start.checkpoint, LONG,
                                                         looker(db, who, start.cursor)))
                 for lst in (listener, second)]
        while listener.waiting < 1 or second.waiting < 1:
            time.sleep(0.01)
        rename_later(server_db, t, deal, "Both", delay=0)
        for th, out in waits:
            th.join(LONG + 5)
            (page,) = out
            assert isinstance(page, pull.PullPage) and page.counts.get("deals") == 1
    finally:
        second.close()


def test_the_listener_comes_back_after_losing_its_connection(
        server_db: ServerDb, listener: live.Listener) -> None:
    t = server_db.tenant("Again")
    deal = server_db.deal(t)
    who, db = admin_caller(server_db, t), server_db.pool()
    with server_db.superuser() as su:
        killed = su.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "query = 'LISTEN closeplan_sync' AND datname = current_database()"
                            ).fetchall()
    assert killed
    while not listener.listening:
        time.sleep(0.05)
    start = up_to_date(db, who)
    th, out = in_background(lambda: live.poll(listener, t.id, start.checkpoint, LONG,
                                              looker(db, who, start.cursor)))
    rename_later(server_db, t, deal, "After reconnect")
    th.join(LONG + 5)
    (page,) = out
    assert isinstance(page, pull.PullPage) and page.counts.get("deals") == 1


def test_wait_must_be_a_bounded_number_of_seconds() -> None:
    assert live.clamp_wait(0) == 0.0 and live.clamp_wait(30) == 30.0
    for bad in (-1, 31, "5", None, True, float("nan")):
        with pytest.raises(ApiError) as e:
            live.clamp_wait(bad)
        assert e.value.status == 400 and e.value.code == "bad_wait"
