"""Bootstrap (server/sync/bootstrap.py) against the real database: every row of the
device's current state exactly once, the first screen first (the desktop's first page of
deals in its default order), resumable mid-stream from a cursor with changes made in
between, and refused cursors before the first byte."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from pg_support import ServerDb, Tenant
from pull_support import (
    HASH,
    Client,
    add_grant,
    add_user,
    admin_caller,
    caller,
    committed,
    in_tenant,
    key_of,
)

from closeplan_desktop.core.domain.ids import new_id
from closeplan_desktop.server.caller import Caller
from closeplan_desktop.server.errors import ApiError
from closeplan_desktop.server.sync import bootstrap, pull, pull_cursor
from closeplan_desktop.server.sync.pull_cursor import PullPosition

DEALS = 470
EVERY = 15  # every 15th deal is a tombstone
DELETED = len(range(0, DEALS, EVERY))


@pytest.fixture(autouse=True)
def small_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fetches of 60 deals: the stream has many resume points."""
    monkeypatch.setattr(bootstrap, "FETCH", 60)


@pytest.fixture(scope="module")
def big(server_db: ServerDb) -> Tenant:
    """A tenant with DEALS deals of spread-out times (DELETED of them tombstones)."""
    t = server_db.tenant("Big")
    now = dt.datetime.now(dt.UTC)
    with in_tenant(server_db, t) as conn:
        for i in range(DEALS):
            at = now - dt.timedelta(minutes=i * 7 % 1000, seconds=i)
            conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id, "
                         "created_at, updated_at, deleted_at) VALUES (current_tenant_id(), %s, "
                         "%s, 'ACTIVE', %s, %s, %s, %s, %s)",
                         (new_id(), f"Deal {i}", i, t.admin_id, at, at,
                          at if i % EVERY == 0 else None))
    return t


def stream(db: ServerDb, who: Caller, cursor: str | None = None) -> list[dict[str, Any]]:
    data = b"".join(bootstrap.open_bootstrap(db.pool(), who, cursor))
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().split("\n")[:-1]]


def first_page(db: ServerDb, t: Tenant) -> list[str]:
    """The desktop's first page: live deals by updated_at, then id, newest first."""
    with db.superuser() as conn:
        rows = conn.execute("SELECT id FROM deals WHERE tenant_id = %s AND deleted_at IS NULL "
                            "ORDER BY updated_at DESC, id DESC LIMIT %s",
                            (t.id, bootstrap.FIRST_PAGE)).fetchall()
    return [r[0] for r in rows]


def test_every_row_once_first_screen_first_then_a_checkpoint_to_pull_from(
        server_db: ServerDb, big: Tenant) -> None:
    who = admin_caller(server_db, big)
    grant = add_grant(server_db, big, "DEVICE", str(who.device_id))
    lines = stream(server_db, who)
    changes = [x for x in lines if "table" in x]
    keys = [key_of(c) for c in changes]
    assert len(keys) == len(set(keys))  # every row once
    deals = [c["row"]["id"] for c in changes if c["table"] == "deals"]
    assert set(deals) == set(committed(server_db, big)) and len(deals) == DEALS
    assert sum(1 for c in changes if c["table"] == "deals" and c["row"]["deleted_at"]) == DELETED
    # First screen: tenant, users, PHI keys, grants, the first page in order; then devices.
    order = [c["table"] for c in changes]
    first = order.index("deals")
    assert set(order[:first]) == {"tenants", "users", "phi_keys", "key_grants"}
    assert order[:first].index("tenants") == 0
    assert deals[:bootstrap.FIRST_PAGE] == first_page(server_db, big)
    marker = next(i for i, x in enumerate(lines) if x.get("first_screen"))
    assert [x.get("table") for x in lines[:marker]].count("deals") == bootstrap.FIRST_PAGE
    assert {x.get("table") for x in lines[:marker]} >= {"devices"}
    assert {key_of(c) for c in changes if c["table"] == "key_grants"} == {("key_grants", grant)}
    # Resume points after each fetch, and the last line.
    assert sum(1 for x in lines if set(x) == {"cursor"}) == -(-(DEALS - 200) // 60)
    done = lines[-1]
    assert done["done"] is True and done["counts"]["deals"] == DEALS
    assert done["counts"] == {t: order.count(t) for t in set(order)}
    # Pulling from the final cursor: nothing new, and the hash agrees.
    client = Client(server_db.pool(), who, done["cursor"])
    for c in changes:
        client.apply(c)
    (page,) = client.sync()
    assert page.changes == [] and page.checkpoint == done["checkpoint"]
    with pull.snapshot(server_db.pool(), who) as conn:
        assert pull.checkpoint(conn, who).hash == client.hash()


def test_a_user_device_bootstrap_has_no_devices_no_hashes_no_others_grants(
        server_db: ServerDb, big: Tenant) -> None:
    user = add_user(server_db, big)
    mine, other = server_db.device(big, user), server_db.device(big, user)
    own = add_grant(server_db, big, "DEVICE", mine)
    add_grant(server_db, big, "DEVICE", other)
    lines = stream(server_db, caller(big, user, mine))
    tables = {x.get("table") for x in lines}
    assert "devices" not in tables and "users" in tables
    assert [key_of(x) for x in lines if x.get("table") == "key_grants"] == [("key_grants", own)]
    text = json.dumps(lines)
    assert HASH not in text and '"password"' not in text


def test_a_resumed_stream_with_changes_in_between_leaves_nothing_out(
        server_db: ServerDb, big: Tenant) -> None:
    who = admin_caller(server_db, big)
    lines = stream(server_db, who)
    cut = [i for i, x in enumerate(lines) if set(x) == {"cursor"}][1]  # after two fetches
    received = [x for x in lines[:cut] if "table" in x]
    sent_ids = {x["row"]["id"] for x in received if x["table"] == "deals"}
    unsent = sorted(set(committed(server_db, big)) - sent_ids)
    top = first_page(server_db, big)
    # Meanwhile: an edit of a deal already sent, one not yet sent, a first-page deal
    # deleted (so another deal moves onto the first page), and a new deal.
    with in_tenant(server_db, big) as conn:
        conn.execute("UPDATE deals SET title = 'Edited after' WHERE id = %s", (top[5],))
        conn.execute("UPDATE deals SET title = 'Edited before' WHERE id = %s", (unsent[-1],))
        conn.execute("UPDATE deals SET deleted_at = now() WHERE id = %s", (top[0],))
        conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, created_by_id) "
                     "VALUES (current_tenant_id(), %s, 'Newcomer', 'DRAFT', 1, %s)",
                     (new_id(), big.admin_id))
    rest = stream(server_db, who, lines[cut]["cursor"])
    assert not any(x.get("first_screen") for x in rest)  # the first screen is not sent again
    client = Client(server_db.pool(), who, rest[-1]["cursor"])
    for x in received + [x for x in rest if "table" in x]:
        client.apply(x)
    client.sync()
    held = {k: r["row_version"] for (t, k), r in client.rows.items() if t == "deals"}
    assert held == committed(server_db, big)
    assert client.rows[("deals", unsent[-1])]["title"] == "Edited before"
    assert client.rows[("deals", top[5])]["title"] == "Edited after"
    assert client.rows[("deals", top[0])]["deleted_at"] is not None
    resent = [x["row"]["id"] for x in rest if x.get("table") == "deals"]
    assert not set(resent) & sent_ids and len(resent) == len(set(resent))


def test_bad_cursors_are_refused_before_the_first_byte(server_db: ServerDb,
                                                      big: Tenant) -> None:
    who = admin_caller(server_db, big)
    other = admin_caller(server_db, big)
    db = server_db.pool()
    first = stream(server_db, who)
    resume = next(x["cursor"] for x in first if x.get("first_screen"))
    cases = {"garbage": "%%%", "a pull cursor": pull_cursor.encode_pull(who, PullPosition(0)),
             "another device's": resume}
    for name, bad in cases.items():
        with pytest.raises(ApiError) as e:
            bootstrap.open_bootstrap(db, other if name == "another device's" else who, bad)
        assert (e.value.status, e.value.code) == (400, "bad_cursor"), name
    ahead = pull_cursor.encode_bootstrap(who, pull_cursor.BootstrapPosition(10**9, None, None))
    with pytest.raises(ApiError) as e:
        bootstrap.open_bootstrap(db, who, ahead)
    assert e.value.code == "bad_cursor" and "ahead" in e.value.message
    # The refused streams gave their connections back.
    assert db.pool.get_stats().get("pool_available", 0) == db.pool.get_stats().get(
        "pool_size", 0)


def test_a_stream_closed_early_gives_its_connection_back(server_db: ServerDb,
                                                        big: Tenant) -> None:
    who = admin_caller(server_db, big)
    db = server_db.pool(min_size=1, max_size=1)
    b = bootstrap.open_bootstrap(db, who)
    chunks = iter(b)
    assert next(chunks)
    b.close()
    b.close()  # twice is fine
    assert b"".join(bootstrap.open_bootstrap(db, who))  # on the pool's one connection


def test_the_stream_sends_the_lines_postgresql_builds_byte_for_byte(
        server_db: ServerDb) -> None:
    """The deals come by COPY (text format, which escapes backslashes and control
    characters): what the desktop receives is exactly the pull line of each row, for
    titles with backslashes, quotes, tabs and other scripts, and an envelope with raw
    whitespace that JSON allows between its tokens."""
    t = server_db.tenant("Bytes")
    titles = ["C:\\\\share\\new", 'Say "hi"\tthere', "Ünïcødé ☃ 日本", "back\\slash\\",
              "bell\x07 and \x0b\x0c\x08 too"] * 50  # more than the first page
    def envelope(i: int) -> str:  # raw whitespace between tokens; a nonce of its own
        nonce = base64.b64encode(i.to_bytes(12, "big")).decode()
        breaks = "\r\n " if i % 4 == 1 else "\t"  # sent re-serialised / as pushed
        return '{"v": 1,\t"k": 1,' + breaks + '"n": "' + nonce + '", "c": "AA=="}'

    with in_tenant(server_db, t) as conn:
        for i, title in enumerate(titles):
            conn.execute("INSERT INTO deals (tenant_id, id, title, status, value, phi, "
                         "phi_key_version, created_by_id) VALUES (current_tenant_id(), %s, %s, "
                         "'ACTIVE', %s, %s::json, 1, %s)",
                         (new_id(), title, i, envelope(i) if i % 2 else None, t.admin_id))
    who = admin_caller(server_db, t)
    data = b"".join(bootstrap.open_bootstrap(server_db.pool(), who))
    sent = {json.loads(line)["row"]["id"]: line for line in data.split(b"\n")
            if line.startswith(b'{"table":"deals"')}
    with server_db.superuser() as su:
        su.execute("SET TimeZone = 'UTC'")
        built = {r[0]: r[1].encode() for r in su.execute(
            f"SELECT id, {bootstrap.DEALS.line_sql()} FROM deals WHERE tenant_id = %s",
            (t.id,))}
    assert len(sent) == len(titles) and sent == built
    assert sorted(json.loads(v)["row"]["title"] for v in sent.values()) == sorted(titles)
