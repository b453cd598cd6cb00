"""Pull under concurrent writers: threads insert, edit, delete and roll back deals in many
small transactions while a reader pulls in small pages. Whenever the reader is up to
date it holds exactly the committed set of its snapshot (the checkpoint hash, taken in
the same snapshot, agrees), it never receives a row of a rolled-back transaction, and
at the end it holds exactly what the database holds."""

from __future__ import annotations

import json
import random
import threading

from pg_support import ServerDb, Tenant
from pull_support import Client, admin_caller, committed

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.sync import pull

WRITERS = 3
ROUNDS = 60


class Midway:
    """Writers pause halfway until the reader has caught up once, so that at least one
    checkpoint is checked while writes are still to come, however slow the machine."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting = 0
        self.resume = threading.Event()

    def pause(self) -> None:
        with self.lock:
            self.waiting += 1
        self.resume.wait(timeout=120)

    def all_paused(self) -> bool:
        with self.lock:
            return self.waiting == WRITERS


def writer(db: ServerDb, t: Tenant, seed: int, rolled_back: list[str],
           errors: list[BaseException], midway: Midway) -> None:
    rng = random.Random(seed)
    mine: list[str] = []
    try:
        with db.app() as conn:
            for done in range(ROUNDS):
                if done == ROUNDS // 2:
                    midway.pause()
                conn.execute("SELECT set_tenant_context(%s)", (t.id,))
                action = rng.random()
                if action < 0.45 or not mine:
                    deal = new_id()
                    conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                                 "created_by_id) VALUES (current_tenant_id(), %s, 'New', "
                                 "'DRAFT', %s, %s)", (deal, rng.randint(1, 10**6), t.admin_id))
                    mine.append(deal)
                elif action < 0.75:
                    conn.execute("UPDATE deals SET title = %s, value = value + 1 WHERE id = %s",
                                 (f"Edit {rng.random()}", rng.choice(mine)))
                elif action < 0.85:
                    conn.execute("UPDATE deals SET deleted_at = now() WHERE id = %s",
                                 (rng.choice(mine),))
                else:  # a transaction that never commits: its rows must never be pulled
                    ghost = new_id()
                    conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, "
                                 "created_by_id) VALUES (current_tenant_id(), %s, 'Ghost', "
                                 "'DRAFT', 1, %s)", (ghost, t.admin_id))
                    conn.execute("UPDATE deals SET title = 'Ghost edit' WHERE id = %s",
                                 (rng.choice(mine),))
                    rolled_back.append(ghost)
                    conn.rollback()
                    continue
                conn.commit()
    except BaseException as e:  # reported by the test
        errors.append(e)


def test_a_reader_pulling_during_writes_ends_with_exactly_the_committed_set(
        server_db: ServerDb) -> None:
    t = server_db.tenant("Busy")
    for _ in range(5):
        server_db.deal(t)
    who = admin_caller(server_db, t)
    db = server_db.pool(max_size=4)
    client = Client(db, who)
    rolled_back: list[str] = []
    errors: list[BaseException] = []
    midway = Midway()
    threads = [threading.Thread(target=writer,
                                args=(server_db, t, seed, rolled_back, errors, midway))
               for seed in range(WRITERS)]
    for th in threads:
        th.start()
    checks = 0

    def look() -> bool:
        """One page; when it is the last, the client's hash against the checkpoint of
        the same snapshot."""
        nonlocal checks
        with pull.snapshot(db, who) as conn:
            page = pull.pull(conn, who, client.cursor, 7)
            summary = pull.checkpoint(conn, who) if page.up_to_date else None
        for change in json.loads(page.to_json())["changes"]:
            client.apply(change)
        client.cursor = page.cursor
        if summary is not None:
            assert client.hash() == summary.hash, f"diverged at {summary.checkpoint}"
            checks += 1
        return page.up_to_date

    while any(th.is_alive() for th in threads):
        if look() and midway.all_paused() and not midway.resume.is_set():
            midway.resume.set()  # caught up with half the writes: the rest may come
        elif not midway.resume.is_set() and not any(th.is_alive() for th in threads):
            break
    for th in threads:
        th.join()
    assert not errors, errors
    while not look():
        pass
    assert checks >= 2
    held = {k: r["row_version"] for (table, k), r in client.rows.items() if table == "deals"}
    assert held == committed(server_db, t)
    assert len(held) > 5 + WRITERS * 10
    ghosts = set(rolled_back)
    assert ghosts and not ghosts & {c["row"].get("id") for c in client.received}
    assert all(c["row"].get("title") != "Ghost edit" for c in client.received)
